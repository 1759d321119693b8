from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lamas.errors import ModelError, ModelNotInstalled, UnknownModel
from lamas.llm import catalog


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModel, match=r"smollm2-135m.*qwen|qwen.*smollm2"):
        catalog.path("gpt-17")


def test_test_model_is_installed_and_verifies() -> None:
    path = catalog.path(catalog.DEFAULT_TEST_MODEL)
    assert path.suffix == ".gguf"
    assert catalog.verify(catalog.DEFAULT_TEST_MODEL)


def test_chunked_model_missing_from_an_empty_home(lamas_home: Path) -> None:
    with pytest.raises(ModelNotInstalled, match=r"lamas models install qwen2\.5-coder-1\.5b"):
        catalog.path("qwen2.5-coder-1.5b")
    assert not catalog.is_installed("qwen2.5-coder-1.5b")


def _fake_chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sha: str) -> catalog.ModelSpec:
    """A chunked model whose parts are two files in a fake package directory."""
    package = tmp_path / "pkg"
    (package / "data").mkdir(parents=True)
    (package / "data" / "part01.bin").write_bytes(b"hello ")
    (package / "data" / "part02.bin").write_bytes(b"world")
    spec = catalog.ModelSpec(
        name="fake",
        description="fake",
        license="none",
        packages=("fake-pkg==1",),
        file_name="fake.gguf",
        sha256=sha,
        chunked=True,
    )
    monkeypatch.setitem(catalog.CATALOG, "fake", spec)
    monkeypatch.setattr(catalog, "_package_dir", lambda module: package)
    return spec


def test_chunks_are_concatenated_in_order_and_checked(
    lamas_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = hashlib.sha256(b"hello world").hexdigest()
    _fake_chunked(lamas_home, monkeypatch, sha)
    seen: list[tuple[int, int]] = []
    path = catalog.install("fake", progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == b"hello world"
    assert seen[-1] == (11, 11)
    assert catalog.install("fake") == path  # idempotent


def test_a_bad_checksum_leaves_no_file_behind(
    lamas_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_chunked(lamas_home, monkeypatch, "0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        catalog.install("fake")
    models = lamas_home / "models"
    assert not (models / "fake.gguf").exists()
    assert list(models.iterdir()) == []  # no partial file either
