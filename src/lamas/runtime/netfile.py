"""Load a network definition from a YAML or JSON file and build a runnable `Network` from it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from lamas.agent.agent import Agent
from lamas.errors import ConfigError, MalformedMessage
from lamas.protocol.cards import AgentCard
from lamas.protocol.network import AgentSpec, NetworkSpec, replica_id
from lamas.runtime.defences import Defences, default_defences
from lamas.runtime.network import Network
from lamas.runtime.policy import Rule, RulePolicy
from lamas.runtime.topology import TopologyPolicy
from lamas.runtime.transport import AccessPolicy


def load_spec(path: str | Path) -> NetworkSpec:
    """Read and validate a network file; every problem is a `ConfigError` naming the file."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read network file {file}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{file} is not UTF-8 text (byte {error.start}): {error.reason}"
        ) from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{file} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file} must hold a mapping with 'name' and 'agents'")
    _inline_vocabularies(data, file)
    try:
        return NetworkSpec.parse(data)
    except MalformedMessage as error:
        raise ConfigError(f"{file}: {error}") from None


def _inline_vocabularies(data: dict[str, Any], file: Path) -> None:
    """Replace each card vocabulary given as a file name (`vocabularies: {cities:
    data/vocabulary/cities.json}`) by that JSON file's content, so the card itself, signed
    and sent as it is, carries the names; the file must lie beside the network file."""
    import json

    base = file.resolve().parent
    agents = data.get("agents")
    for agent in agents if isinstance(agents, list) else ():
        card = agent.get("card") if isinstance(agent, dict) else None
        blocks = card.get("vocabularies") if isinstance(card, dict) else None
        if not isinstance(blocks, dict):
            continue
        for name, block in blocks.items():
            if not isinstance(block, str):
                continue
            source = (base / block).resolve()
            if not source.is_relative_to(base):
                raise ConfigError(f"{file}: vocabulary {name!r} file {block!r} is outside {base}")
            try:
                blocks[name] = json.loads(source.read_text(encoding="utf-8"))
            except OSError as error:
                raise ConfigError(
                    f"{file}: cannot read vocabulary {name!r} file {source}: {error.strerror}"
                ) from None
            except ValueError as error:
                raise ConfigError(
                    f"{file}: vocabulary file {source} is not JSON: {error}"
                ) from None


def load(path: str | Path, *, external: Iterable[str] = ()) -> tuple[NetworkSpec, Network]:
    """Read a network file and build it; handler modules are looked up beside the file."""
    spec = load_spec(path)
    return spec, build(spec, base_dir=Path(path).resolve().parent, external=external)


def build(
    spec: NetworkSpec,
    *,
    base_dir: Path | None = None,
    external: Iterable[str] = (),
    defended: bool = True,
) -> Network:
    """A `Network` with every agent of `spec` (and its replicas) registered.

    Handler references are `module:factory`; with `base_dir`, a `module.py` there is
    used before any installed module of that name. Agents named in `external` are
    left out for the caller to add (an orchestrator built over this network, say).

    Its transport enforces the spec's topology (when it is enforceable: a star needs a
    hub) and its access rules; with neither, every delivery is allowed. Unless
    `defended` is False, every agent has keys and a signed card, verifies envelopes
    across entities and rate-limits its callers (`lamas.runtime.defences`); an external
    agent gets the same from `network.defences` when the caller adds it.
    """
    network = Network(policy=access_policy(spec))
    left_out = check_external(spec, external)
    if defended:
        network.defences = spec_defences(spec)
        network.transport.signers = network.defences.signers()
    for agent in build_agents(
        spec, base_dir=base_dir, defences=network.defences, external=left_out
    ):
        network.add(agent)
    return network


def access_policy(spec: NetworkSpec) -> AccessPolicy | None:
    """What the spec's topology and rules allow, as the policy a transport enforces."""
    replicated = {a.card.id for a in spec.agents if a.replicas > 1}

    def covering_replicas(pattern: str) -> str:
        # A rule naming a replicated agent means all of its replicas, `x-1`, `x-2`, ...
        return f"{pattern}-[0-9]*" if pattern in replicated else pattern

    rules = [
        Rule(covering_replicas(r.sender), covering_replicas(r.recipient), r.skill)
        for r in spec.rules
    ]
    policy: AccessPolicy | None = RulePolicy(rules) if rules else None
    if spec.topology.enforced:
        # The shape first (who may talk at all), then the rules (who may ask for what).
        policy = TopologyPolicy(
            spec.topology, spec.agent_ids(), replicas=spec.replica_groups(), inner=policy
        )
    return policy


def check_external(spec: NetworkSpec, external: Iterable[str]) -> set[str]:
    """The ids left out for the caller to add; each must be an agent of `spec`."""
    left_out = set(external)
    unknown = sorted(left_out - {a.card.id for a in spec.agents})
    if unknown:
        raise ConfigError(f"{spec.name!r} has no agents {', '.join(unknown)} to leave out")
    return left_out


def spec_cards(spec: NetworkSpec) -> list[tuple[AgentSpec, AgentCard]]:
    """Every agent of `spec` with its card, replicas expanded (`x-1`, `x-2`, ...)."""
    return [
        (agent_spec, _replica_card(agent_spec.card, index, agent_spec.replicas))
        for agent_spec in spec.agents
        for index in range(agent_spec.replicas)
    ]


def spec_defences(spec: NetworkSpec, *, seed: bytes | None = None) -> Defences:
    """Keys and signed cards for every agent of `spec`; outside callers are the topology's
    entry (the user) and the senders the rules name. Processes sharing `seed` share keys."""
    named = [r.sender for r in spec.rules if not any(ch in r.sender for ch in "*?[")]
    defences = default_defences(
        (card for _, card in spec_cards(spec)), callers=[spec.topology.entry, *named], seed=seed
    )
    # The hub acts for the platform's tasks: exempt from per-caller rate limits.
    defences.platform = frozenset([spec.topology.hub] if spec.topology.hub else [])
    return defences


def build_agents(
    spec: NetworkSpec,
    *,
    base_dir: Path | None = None,
    defences: Defences | None = None,
    external: Collection[str] = (),
    include: Callable[[str], bool] = lambda agent_id: True,
) -> Iterator[Agent]:
    """The agents of `spec` not left out as `external` and whose id (a replica's own id)
    `include` accepts, each built by its handler factory."""
    for agent_spec, card in spec_cards(spec):
        if agent_spec.card.id in external or not include(card.id):
            continue
        if agent_spec.handler is None:
            raise ConfigError(f"agent {agent_spec.card.id!r} of {spec.name!r} names no handler")
        handler = _import(agent_spec.handler, base_dir)(card)
        if defences is not None:
            yield Agent(defences.signed_card(card), handler, middleware=defences.middleware())
        else:
            yield Agent(card, handler)


def _replica_card(card: AgentCard, index: int, replicas: int) -> AgentCard:
    return card.model_copy(update={"id": replica_id(card.id, index)}) if replicas > 1 else card


def _import(reference: str, base_dir: Path | None = None) -> Any:
    module_name, _, attribute = reference.partition(":")
    local = base_dir / f"{module_name.replace('.', '/')}.py" if base_dir else None
    try:
        if local is not None and local.is_file():
            module = load_module_file(local)
        else:
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import handler module {module_name!r}: {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no {attribute!r}") from None


def load_module_file(path: Path) -> ModuleType:
    """Import a network's own module by path, under a name unique to its folder: two
    networks may each have an `agents.py`."""
    import hashlib
    import importlib.util
    import sys

    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"lamas_network_{digest}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module
