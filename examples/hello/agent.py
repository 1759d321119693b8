"""The Forecaster agent: one typed tool and a model. Serve it alone, or in network.yaml."""

from lamas import Agent, AgentCard, Handler, llm_agent, model_from_env, react_handler


def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny and 21 C in {city}"


def forecaster() -> Agent:
    """`lamas serve examples/hello/agent.py:forecaster` (model: $LAMAS_MODEL)."""
    return llm_agent(
        "forecaster",
        "Tells the weather in a city",
        model=model_from_env(),
        tools=[weather],
        entity="meteo",
    )


def handler(card: AgentCard) -> Handler:
    """network.yaml's `handler: agent:handler` (the card is in the file)."""
    return react_handler(model_from_env(), [weather])
