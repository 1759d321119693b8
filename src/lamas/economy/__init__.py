"""Economy: the ledger of work, value and credit (later: credit rules, attribution, marketplace)."""

from lamas.economy.ledger import Ledger, NewEntry
from lamas.economy.ledger_writer import GroupWriter

__all__ = ["GroupWriter", "Ledger", "NewEntry"]
