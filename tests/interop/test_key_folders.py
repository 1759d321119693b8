"""Key folders on a shared host: secrets 0600 in 0700 folders, names from cards never
placing a file outside the folder, and the development keys of `lamas serve` likewise."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lamas.errors import ConfigError
from lamas.interop.keys import dev_keys, make_keys
from lamas.protocol.cards import AgentCard


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def card(agent: str, entity: str) -> AgentCard:
    return AgentCard(id=agent, name=agent, entity=entity)


def test_dev_keys_are_private_files_in_private_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMAS_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "keys").mkdir(parents=True)
    (tmp_path / "home" / "keys").chmod(0o755)  # as an older lamas left it: tightened
    folder, made = dev_keys([card("forecaster", "meteo")], callers=["user"])
    assert made == 4  # forecaster, meteo, user (agent and entity)
    assert folder.path == tmp_path / "home" / "keys" / "dev"
    for path in [folder.path.parent, folder.path, *folder.path.iterdir()]:
        assert mode(path) == 0o700, path
    for key in folder.path.rglob("*.key"):
        assert mode(key) == 0o600, key
    for pub in folder.path.rglob("*.pub"):
        assert mode(pub) & 0o022 == 0, pub
    # Kept: a second call makes nothing and changes nothing.
    before = {p: p.read_bytes() for p in folder.path.rglob("*.key")}
    assert dev_keys([card("forecaster", "meteo")], callers=["user"])[1] == 0
    assert before == {p: p.read_bytes() for p in folder.path.rglob("*.key")}


@pytest.mark.parametrize(
    ("agent", "entity"),
    [("a/../../../escaped", "meteo"), ("forecaster", "../../escaped"), ("ok", ".hidden")],
)
def test_names_from_cards_cannot_place_keys_outside_the_folder(
    tmp_path: Path, agent: str, entity: str
) -> None:
    with pytest.raises(ConfigError, match=r"cannot keep a key for (agent|entity) '"):
        make_keys(tmp_path / "keys", [card("fine", "fine"), card(agent, entity)])
    # Every name is checked first: nothing at all was written, inside or outside.
    assert not (tmp_path / "keys").exists()
    assert not list(tmp_path.rglob("escaped*"))


def test_a_key_folder_linked_elsewhere_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "agents").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="not a link"):
        make_keys(tmp_path / "keys", [card("forecaster", "meteo")])
    assert list(elsewhere.iterdir()) == []
