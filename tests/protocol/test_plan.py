"""Plans: DAG validation, layering and readiness, round-trips."""

from __future__ import annotations

from typing import Any

import pytest

from lamas.errors import InvalidPlan, MalformedMessage
from lamas.protocol.plan import Plan, Step


def step(id: str, *deps: str, capability: str = "work") -> dict[str, Any]:
    return {"id": id, "capability": capability, "depends_on": list(deps)}


def diamond() -> Plan:
    #   a
    #  / \
    # b   c
    #  \ /
    #   d
    return Plan(
        instruction="diamond",
        steps=(
            Step(id="d", capability="join", depends_on=("b", "c")),
            Step(id="b", capability="left", depends_on=("a",)),
            Step(id="a", capability="start", inputs={"city": "Lyon"}),
            Step(id="c", capability="right", depends_on=("a",), optional=True),
        ),
    )


def refused(steps: list[dict[str, Any]]) -> MalformedMessage:
    with pytest.raises(MalformedMessage) as caught:
        Plan.parse({"steps": steps})
    assert caught.value.what == "plan"
    return caught.value


def ids(layer: tuple[Step, ...]) -> set[str]:
    return {s.id for s in layer}


def test_plan_round_trips_through_json() -> None:
    plan = diamond()
    again = Plan.parse(plan.model_dump_json())
    assert again == plan
    assert again.step("c").optional is True
    assert again.step("a").inputs == {"city": "Lyon"}


def test_layers_of_a_diamond() -> None:
    layers = diamond().layers()
    assert [ids(layer) for layer in layers] == [{"a"}, {"b", "c"}, {"d"}]


def test_layers_of_independent_steps_is_one_layer() -> None:
    plan = Plan.parse({"steps": [step("x"), step("y"), step("z")]})
    assert [ids(layer) for layer in plan.layers()] == [{"x", "y", "z"}]


def test_layers_of_a_chain() -> None:
    plan = Plan.parse({"steps": [step("c", "b"), step("b", "a"), step("a")]})
    assert [ids(layer) for layer in plan.layers()] == [{"a"}, {"b"}, {"c"}]


def test_ready() -> None:
    plan = diamond()
    assert ids(plan.ready(set())) == {"a"}
    assert ids(plan.ready({"a"})) == {"b", "c"}
    assert ids(plan.ready({"a", "b"})) == {"c"}
    assert ids(plan.ready({"a", "b", "c"})) == {"d"}
    assert plan.ready({"a", "b", "c", "d"}) == ()


def test_step_lookup() -> None:
    plan = diamond()
    assert plan.step("b").capability == "left"
    with pytest.raises(InvalidPlan, match="'zz'"):
        plan.step("zz")


def test_cycle_is_refused_and_named() -> None:
    error = refused([step("a", "c"), step("b", "a"), step("c", "b"), step("z")])
    text = str(error)
    assert "cycle" in text
    # the closed path, in whichever rotation the search found it
    assert any(
        path in text for path in ("a -> c -> b -> a", "c -> b -> a -> c", "b -> a -> c -> b")
    )


def test_two_step_cycle_is_refused() -> None:
    error = refused([step("a", "b"), step("b", "a")])
    assert "a -> b -> a" in str(error) or "b -> a -> b" in str(error)


def test_unknown_dependency_is_refused() -> None:
    error = refused([step("a"), step("b", "a", "ghost")])
    assert "'b'" in str(error)
    assert "ghost" in str(error)
    assert "unknown" in str(error)


def test_duplicate_step_ids_are_refused() -> None:
    error = refused([step("a"), step("b"), step("a")])
    assert "unique" in str(error)
    assert "repeated: a" in str(error)


def test_self_dependency_is_refused() -> None:
    error = refused([step("a", "a")])
    assert "'a' depends on itself" in str(error)


def test_empty_plan_is_refused() -> None:
    error = refused([])
    assert "steps" in str(error)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"id": "has space", "capability": "work"}, "steps.0.id"),
        ({"id": "a", "capability": "Not A Skill"}, "steps.0.capability"),
        ({"id": "a", "capability": "work", "extra": 1}, "steps.0.extra"),
    ],
)
def test_bad_step_fields_are_refused(bad: dict[str, Any], field: str) -> None:
    error = refused([bad])
    assert field in str(error)


def test_long_chain_does_not_crash_validation() -> None:
    n = 3000
    # listed last-first, so a depth-first search has to walk the whole chain
    steps = [step(f"s{i}", f"s{i - 1}") for i in range(n - 1, 0, -1)] + [step("s0")]
    plan = Plan.parse({"steps": steps})
    assert len(plan.steps) == n
