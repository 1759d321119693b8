"""One way to name a model everywhere a command or a factory takes one.

- a catalog name (`smollm2-135m`, `qwen2.5-coder-1.5b`): the embedded runtime;
- a path to a `.gguf` file: the embedded runtime on that file;
- `openai:MODEL@URL` (`openai:qwen2.5@http://127.0.0.1:8080/v1`): any OpenAI-compatible
  server (vLLM, Ollama, llama.cpp's server, OpenAI); the key, if the server wants one,
  comes from `$OPENAI_API_KEY`, never from the command line (it would show in `ps`).

Agents built by a network file's factories take their model from `$LAMAS_MODEL`
(`model_from_env`), which `lamas run` and `lamas serve --model` set.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from lamas.errors import ConfigError
from lamas.llm import catalog
from lamas.llm.base import ChatModel

OPENAI_PREFIX = "openai:"
MODEL_ENV = "LAMAS_MODEL"
FORMS = "a catalog name (`lamas models list`), a .gguf file, or openai:MODEL@http://HOST:PORT/v1"


def parse_openai(spec: str) -> tuple[str, str]:
    """`openai:MODEL@URL` -> (MODEL, URL); a clear `ConfigError` for anything else."""
    body = spec[len(OPENAI_PREFIX) :]
    # The URL starts at the first "@http(s)://": a model name may hold '@' or ':'
    # (`qwen2.5:7b`), and a URL's own '@' (user:password@host) is refused below.
    found = re.match(r"^(?P<name>.+?)@(?P<url>https?://.*)$", body, re.S)
    if found is None:
        name, at, url = body.partition("@")
        if at and name and url:
            raise ConfigError(f"model {spec!r}: {url!r} is not an http(s) URL")
        raise ConfigError(f"model {spec!r}: expected openai:MODEL@http://HOST:PORT/v1")
    name, url = found["name"], found["url"]
    if name != name.strip() or any(c.isspace() or not c.isprintable() for c in name + url):
        raise ConfigError(f"model {spec!r}: no spaces or control characters in MODEL or URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError as error:
        raise ConfigError(f"model {spec!r}: {url!r} is not a valid URL ({error})") from None
    if not parts.hostname:
        raise ConfigError(f"model {spec!r}: {url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"model openai:{name}@{parts.scheme}://...: no credentials in the URL (they would "
            "show in `ps` and logs, and are not repeated here); "
            "put the API key in $OPENAI_API_KEY"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"model {spec!r}: the URL is the API's base, without ?query or #part")
    return name, url


def open_model(spec: str, *, threads: int = 1) -> ChatModel:
    """The model `spec` names (see the module's docstring for the forms)."""
    spec = spec.strip()
    if spec.startswith(OPENAI_PREFIX):
        from lamas.llm.openai_compat import OpenAICompatModel

        name, url = parse_openai(spec)
        return OpenAICompatModel(
            name, base_url=url, api_key=os.environ.get("OPENAI_API_KEY") or "not-needed"
        )
    from lamas._extras import need

    need("xllamacpp", "local", "the embedded model runtime")
    from lamas.llm.local import LocalModel

    return LocalModel(spec, threads=threads)


_SHARED: dict[str, ChatModel] = {}


def model_from_env(default: str = catalog.DEFAULT_TEST_MODEL) -> ChatModel:
    """The model `$LAMAS_MODEL` names (default: the embedded test model), one instance per
    name in a process: every agent of a network file on the same model shares its weights."""
    name = os.environ.get(MODEL_ENV) or default
    if name not in _SHARED:
        _SHARED[name] = open_model(name)
    return _SHARED[name]
