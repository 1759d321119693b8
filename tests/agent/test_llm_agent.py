"""`llm_agent`: a card with one question skill, and a ReAct handler over typed tools."""

from __future__ import annotations

from decimal import Decimal

from lamas import Network, llm_agent
from lamas.llm import ScriptedModel


async def test_an_llm_agent_has_a_card_and_answers_as_text_and_data() -> None:
    def weather(city: str) -> str:
        """Today's weather in a city."""
        return f"Sunny in {city}"

    model = ScriptedModel(
        [
            {"thought": "t", "action": {"tool": "weather", "args": {"city": "Lyon"}}},
            {"thought": "t", "action": {"tool": "final_answer", "answer": "Sunny in Lyon."}},
        ]
    )
    agent = llm_agent(
        "Weather_Bot", "Tells the weather", model=model, tools=[weather], price="0.02"
    )
    assert agent.card.entity == "Weather_Bot"
    (skill,) = agent.card.skills
    assert skill.name == "weather_bot"
    assert skill.input_schema["required"] == ["question"]
    assert agent.card.price("weather_bot").amount == Decimal("0.02")
    reply = await Network([agent]).ask("Weather_Bot", "Weather in Lyon?")
    assert reply.text == "Sunny in Lyon."
    assert reply.data == {"answer": "Sunny in Lyon."}
    # The tool's result reached the model as an observation.
    assert "Lyon" in model.calls[1][0][-1].content
    assert "source=tool:weather" in model.calls[1][0][-1].content


async def test_no_answer_within_the_step_limit_is_said() -> None:
    loop = {"thought": "t", "action": {"tool": "final_answer", "answer": ""}}
    agent = llm_agent("a", "d", model=ScriptedModel(["not json"] * 2 + [loop]), max_steps=2)
    reply = await Network([agent]).ask("a", "q")
    assert reply.text == "(no answer within the step limit)"


async def test_a_request_filled_input_is_the_request_word_for_word_without_a_model() -> None:
    from lamas.protocol.cards import Skill
    from lamas.runtime.slots import SlotFiller

    model = ScriptedModel()  # any call would fail: it has no replies
    skill = llm_agent("a", "Answers", model=model).card.skills[0]
    filled = await SlotFiller(model).fill(skill, "What is the weather in Lyon?")
    assert filled.values == {"question": "What is the weather in Lyon?"}
    assert filled.missing == []
    assert model.calls == []
    # An input the user already gave is kept.
    kept = await SlotFiller(model).fill(skill, "Lyon", known={"question": "Weather?"})
    assert kept.values == {"question": "Weather?"}
    # Beside other inputs, the model fills only those.
    mixed = Skill(
        name="m",
        description="d",
        input_schema={
            "type": "object",
            "properties": {
                "question": {"type": "string", "x-lamas-fill": "request"},
                "city": {"type": "string"},
            },
        },
    )
    scripted = ScriptedModel([{"city": "Lyon", "question": "garbled"}])
    both = await SlotFiller(scripted).fill(mixed, "Weather in Lyon?")
    assert both.values == {"question": "Weather in Lyon?", "city": "Lyon"}
