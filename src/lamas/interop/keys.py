"""Who is who across processes: key folders, and agent keys vouched for by their entity.

In networked mode each process holds only its own secrets: its agent's key (which signs
the envelopes it sends) and, to sign its card with the URL it serves, its entity's key.
Everyone trusts the entities' public keys (the trust anchors, `entities/*.pub`). An
agent's public key reaches others through the registry, inside a `Registration` whose
`key_signature` is its entity's signature over (agent, entity, key): an agent key no
entity vouched for is never trusted.

A key folder holds `entities/<entity>.key|.pub` and `agents/<agent>.key`; `make_keys`
writes one for every agent and entity of a network (a test or a one-host deployment;
on many hosts each party keeps only its own files and everyone gets `entities/*.pub`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import Field

from lamas.errors import ConfigError
from lamas.protocol.cards import AgentCard
from lamas.protocol.ledger import canonical_json
from lamas.protocol.messages import Wire
from lamas.security.identity import PrivateKey, PublicKey
from lamas.security.signing import Directory, ForgedCard, verify_card

AGENT_KEY_DOMAIN = b"lamas.agent-key.v1\x00"
KINDS = {"agents": "agent", "entities": "entity"}
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:@-]{0,127}")


class Registration(Wire):
    """What an agent publishes to a registry: its signed card and its vouched-for key."""

    card: AgentCard
    agent_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="raw Ed25519 key, hex")
    key_signature: str = Field(description="'<entity key id>:<hex>' over agent, entity, key")


def _binding(agent_id: str, entity: str, key_hex: str) -> bytes:
    text = canonical_json({"agent": agent_id, "entity": entity, "key": key_hex})
    return AGENT_KEY_DOMAIN + text.encode()


def register(card: AgentCard, agent_key: PrivateKey, entity_key: PrivateKey) -> Registration:
    """The registration of `card` (signed by `entity_key`, with `agent_key` vouched for)."""
    from lamas.security.signing import sign_card

    signed = sign_card(card, entity_key)
    key_hex = agent_key.public.raw.hex()
    signature = entity_key.sign(_binding(card.id, card.entity, key_hex))
    return Registration(
        card=signed, agent_key=key_hex, key_signature=f"{entity_key.id}:{signature.hex()}"
    )


def admit(directory: Directory, registration: Registration) -> None:
    """Trust the registered agent's key in `directory`, once its card and key binding
    check against its entity's key there; raises `ForgedCard` otherwise."""
    card = registration.card
    key = PublicKey.from_raw(bytes.fromhex(registration.agent_key))
    key_id, _, digits = registration.key_signature.partition(":")
    entity_key = directory.keyring.get(key_id)
    if entity_key is None or directory.entity_of_key(key_id) != card.entity:
        raise ForgedCard(card, f"its key is vouched for by key {key_id!r}, not by its entity's")
    try:
        signature = bytes.fromhex(digits)
    except ValueError:
        raise ForgedCard(card, "its key signature is not hex") from None
    if not entity_key.verify(_binding(card.id, card.entity, registration.agent_key), signature):
        raise ForgedCard(card, "its entity's signature over its key does not match")
    # The card is checked every time, a re-registration's too: a known key must not carry
    # an altered card (a new url, new skills) past its entity's signature.
    verify_card(card, directory.keyring, owner_of=directory.entity_of_key)
    if directory.entity_of(card.id) is not None and key.id in directory.keyring:
        return  # the key is trusted already (a re-registration)
    directory.add_agent(card.id, card.entity, key)


class KeyFolder:
    """A folder of keys: `entities/<entity>.key|.pub`, `agents/<agent>.key`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def agent_key(self, agent_id: str) -> PrivateKey:
        return PrivateKey.load(self._need(self.file("agents", agent_id, ".key")))

    def entity_key(self, entity: str) -> PrivateKey:
        return PrivateKey.load(self._need(self.file("entities", entity, ".key")))

    def file(self, kind: str, name: str, suffix: str) -> Path:
        """`<folder>/<kind>/<name><suffix>`, for a name that is one plain file name: agent
        ids and entities come from cards, which anyone may write, so `../x` or `a/b` must
        not place a key file outside the folder."""
        if not KEY_NAME.fullmatch(name):
            raise ConfigError(
                f"cannot keep a key for {KINDS.get(kind, kind)} {name!r}: its name must be "
                "letters, digits, spaces and '_.:@-' (no '/', no leading '.'), at most 128 "
                "characters"
            )
        return self.path / kind / f"{name}{suffix}"

    def trust(self) -> Directory:
        """A directory trusting every entity key of the folder (the `.pub` files)."""
        directory = Directory()
        found = sorted((self.path / "entities").glob("*.pub"))
        if not found:
            raise ConfigError(
                f"{self.path}/entities holds no public keys to trust; make them with "
                "`lamas keys NETWORK DIR`"
            )
        for pub in found:
            directory.add_entity(pub.stem, PublicKey.load(pub))
        return directory

    def _need(self, path: Path) -> Path:
        if not path.is_file():
            raise ConfigError(
                f"no key file {path}; make it with `lamas keys NETWORK.yaml {self.path}` "
                f"or `lamas keys MODULE:AGENT {self.path}` (or serve without --keys: "
                "development keys under $LAMAS_HOME)"
            )
        return path


def dev_keys(cards: Iterable[AgentCard], *, callers: Iterable[str] = ()) -> tuple[KeyFolder, int]:
    """The development key folder (`$LAMAS_HOME/keys/dev`) with keys for `cards` and
    `callers`, made now where missing; returns it and how many key files were made."""
    from lamas.config import lamas_home

    path = lamas_home() / "keys" / "dev"
    private_folder(path.parent)
    private_folder(path)
    before = len(list(path.rglob("*.key"))) if path.is_dir() else 0
    folder = make_keys(path, cards, callers=callers)
    return folder, len(list(path.rglob("*.key"))) - before


def make_keys(
    folder: str | Path, cards: Iterable[AgentCard], *, callers: Iterable[str] = ()
) -> KeyFolder:
    """Write a fresh key for every agent and entity of `cards` (and for outside `callers`,
    each its own entity) into `folder`; existing key files are kept."""
    keys = KeyFolder(folder)
    pairs = [(card.id, card.entity) for card in cards] + [(c, c) for c in callers]
    files = [
        (keys.file("entities", entity, ".key"), keys.file("agents", agent_id, ".key"))
        for agent_id, entity in pairs
    ]  # every name checked before anything is written
    keys.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for kind in ("entities", "agents"):
        private_folder(keys.path / kind)
    for entity_file, agent_file in files:
        for path in (entity_file, agent_file):
            if not path.exists():
                PrivateKey.generate().save(path)
        public = entity_file.with_suffix(".pub")
        if not public.exists():
            PrivateKey.load(entity_file).public.save(public)
    return keys


def private_folder(path: Path) -> None:
    """Make `path` a folder only its owner can list or write (0700): it holds secret keys,
    and a folder others may write is one where they could plant a key of their own. A
    folder of another user's is refused, never taken over."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise ConfigError(f"{path} must be a folder of its own, not a link or a file")
    if path.stat().st_uid != os.getuid():
        raise ConfigError(f"{path} belongs to another user; keep keys in a folder of yours")
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
