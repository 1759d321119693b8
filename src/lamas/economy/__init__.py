"""Economy: the ledger of work, value and credit (later: credit rules, attribution, marketplace)."""

from lamas.economy.ledger import Ledger, NewEntry

__all__ = ["Ledger", "NewEntry"]
