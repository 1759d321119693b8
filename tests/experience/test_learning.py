"""Tuning-free learning: few-shot examples from an agent's own successes, and the
prompt-variant A/B harness."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from records import record  # tests/experience is on the path

from lamas.agent.embeddings import HashingEmbedder
from lamas.agent.reasoning import ReActLoop
from lamas.errors import InputError
from lamas.experience.ab import PromptABTest
from lamas.experience.fewshot import FewShotRetriever
from lamas.experience.store import ExperienceStore
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol.cards import Skill
from lamas.runtime.slots import SlotFiller
from lamas.store import create_engine


@pytest.fixture
def store(tmp_path: Path) -> ExperienceStore:
    store = ExperienceStore(create_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    store.add_many(
        [
            record(
                task="a",
                capability="ticket.search",
                agent="orchestrator",
                clause="trains from Paris to Lyon tomorrow",
                inputs={"origin": "Paris", "destination": "Lyon", "date": "2026-11-26"},
            ),
            record(
                task="b",
                capability="ticket.search",
                agent="orchestrator",
                clause="trains from Lille to Nice on Friday",
                inputs={"origin": "Lille", "destination": "Nice", "date": "2026-11-27"},
                at=2,
            ),
            record(
                task="c",
                capability="ticket.search",
                agent="orchestrator",
                clause="trains from Paris to Lyon in the evening",
                ok=False,
                error="no offers",
                inputs={"origin": "Lyon"},
                at=3,
            ),
            record(
                task="d",
                capability="hotel.search",
                agent="orchestrator",
                clause="a hotel in Lyon",
                inputs={"city": "Lyon"},
                at=4,
            ),
            record(
                task="e",
                capability="ticket.search",
                agent="someone-else",
                clause="trains from Paris to Lyon",
                inputs={"origin": "Paris"},
                at=5,
            ),
        ]
    )
    return store


def test_examples_come_from_the_agents_own_successes_most_similar_first(
    store: ExperienceStore,
) -> None:
    retriever = FewShotRetriever(store, HashingEmbedder().embed)
    examples = retriever.examples(
        "trains from Paris to Lyon on Monday", agent="orchestrator", capability="ticket.search", k=5
    )
    assert [e.request for e in examples] == [
        "trains from Paris to Lyon tomorrow",
        "trains from Lille to Nice on Friday",
    ]  # not the failure, not another agent's, not another capability's
    assert json.loads(examples[0].answer)["destination"] == "Lyon"
    store.set_feedback("a", -1.0)
    assert {e.request for e in retriever.examples("Paris to Lyon", agent="orchestrator")} == {
        "a hotel in Lyon",
        "trains from Lille to Nice on Friday",
    }  # the task the user rated badly no longer teaches


async def test_the_slot_filler_and_the_react_loop_show_the_examples(
    store: ExperienceStore,
) -> None:
    retriever = FewShotRetriever(store, HashingEmbedder().embed)
    skill = Skill(
        name="ticket.search",
        description="Search trains",
        input_schema={
            "type": "object",
            "properties": {"origin": {"type": "string"}, "destination": {"type": "string"}},
        },
    )
    model = ScriptedModel([{"origin": "Paris", "destination": "Lyon"}])
    filler = SlotFiller(
        model,
        few_shot=lambda s, text: [
            (e.request, e.answer)
            for e in retriever.examples(text, agent="orchestrator", capability=s.name, k=1)
        ],
    )
    filled = await filler.fill(skill, "a train from Paris to Lyon")
    assert filled.values == {"origin": "Paris", "destination": "Lyon"}
    sent = model.calls[0][0]
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert "trains from Paris to Lyon" in sent[1].content
    assert '"Lyon"' in sent[2].content

    loop_model = ScriptedModel(
        [{"thought": "t", "action": {"tool": "final_answer", "answer": "ok"}}]
    )
    loop = ReActLoop(loop_model, few_shot=lambda q: [("2+2?", "4")])
    await loop.run("3+3?")
    roles = [m.role for m in loop_model.calls[0][0]]
    assert roles == ["system", "user", "assistant", "user"]


def test_the_ab_harness_finds_the_better_prompt_and_sends_it_more_traffic() -> None:
    variants = {"terse": "Answer.", "careful": "Think step by step, then answer."}
    truth = {"terse": 0.6, "careful": 0.8}
    world = random.Random(11)
    test = PromptABTest(variants, seed=12, min_trials=15)
    assigned = []
    while test.winner() is None and len(assigned) < 500:
        name, prompt = test.assign()
        assert prompt == variants[name]
        test.record(name, world.random() < truth[name])
        assigned.append(name)
    assert test.winner() == "careful"
    stats = {s.name: s for s in test.stats()}
    assert stats["careful"].p_best >= 0.95
    assert stats["careful"].trials > stats["terse"].trials


async def test_the_ab_harness_on_a_react_loop() -> None:
    """Variant prompts on a real loop: the scripted model answers right only when the
    system prompt asks it to check its units."""

    def responder(messages: list[ChatMessage], _schema: object) -> dict[str, object]:
        careful = "units" in messages[0].content
        answer = "12 km" if careful else "12"
        return {"thought": "t", "action": {"tool": "final_answer", "answer": answer}}

    test = PromptABTest({"plain": "Answer.", "units": "Answer with units."}, seed=3, min_trials=8)
    while test.winner() is None:
        name, prompt = test.assign()
        result = await ReActLoop(ScriptedModel(responder=responder), system_prompt=prompt).run(
            "How far is it?"
        )
        test.record(name, (result.answer or "").endswith("km"))
    assert test.winner() == "units"


def test_the_ab_harness_validates() -> None:
    with pytest.raises(InputError, match="two or more"):
        PromptABTest({"only": "x"})
    with pytest.raises(InputError, match="no variant"):
        PromptABTest({"a": "x", "b": "y"}).record("c", True)
