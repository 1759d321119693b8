"""Install what you use: the core's dependencies, the extras, and the error that names the
missing extra at each optional feature's import site."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lamas._extras import EXTRAS, MissingExtra, need

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {r.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip() for r in requirements}


def test_the_core_installs_only_the_protocol_the_cli_and_the_store() -> None:
    core = names(PROJECT["dependencies"])
    assert {"pydantic", "typer", "sqlalchemy"} <= core
    heavy = {"xllamacpp", "torch", "opendp", "ray", "a2a-sdk", "starlette", "psycopg"}
    assert not core & heavy
    assert not any(n.startswith("opentelemetry") for n in core)


def test_every_extra_the_errors_name_exists_and_all_has_them_all() -> None:
    extras = PROJECT["optional-dependencies"]
    for extra in EXTRAS:
        assert extra in extras, extra
        assert extra in extras["all"][0], f"'all' lacks {extra}"
    assert "xllamacpp" in names(extras["local"])


def test_need_names_the_extra_and_rejects_an_unknown_extra() -> None:
    need("pydantic", "local")  # present: nothing happens
    with pytest.raises(MissingExtra, match=r"pip install 'lamas\[ray\]'"):
        need("no_such_module_for_lamas", "ray", "the Ray runtime")
    with pytest.raises(ValueError, match="no extra 'rays'"):
        need("ray", "rays")


# Each optional feature, used with its library hidden (as if its extra were not
# installed): the error names the extra.
SITES = {
    "local": ("xllamacpp", "from lamas.llm.local import load_server as f\nf('x', n_ctx=1, threads=1)"),  # noqa: E501
    "openai": ("openai", "from lamas.llm.spec import open_model as f\nf('openai:m@http://h:9/v1')"),
    "embed": ("sentence_transformers", "from lamas.agent.embeddings import MiniLMEmbedder as f\n"
              "f().embed(['x'])"),
    "a2a": ("a2a", "import lamas.interop"),
    "dashboard": ("starlette", "import lamas.dashboard"),
    "privacy": ("phe", "from lamas.privacy.paillier import KeyHolder\nKeyHolder(512)"),
    "ray": ("ray", "from lamas.runtime.ray_runtime import connect\nconnect()"),
    "postgres": ("psycopg", "from lamas.store import create_engine as f\nf('postgresql://u@h:9/x')"),
    "telemetry": ("opentelemetry.sdk", "import lamas.telemetry as t\nt.configure('console')"),
}


@pytest.mark.parametrize("extra", sorted(SITES))
def test_a_feature_without_its_extra_says_which_to_install(extra: str) -> None:
    module, use = SITES[extra]
    hide = f"import sys; sys.modules[{module!r}] = None\n"
    done = subprocess.run(
        [sys.executable, "-c", hide + use],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode != 0
    assert "MissingExtra" in done.stderr, done.stderr[-2000:]
    assert f"pip install 'lamas[{extra}]'" in done.stderr, done.stderr[-2000:]
