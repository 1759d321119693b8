"""`lamas dashboard`: the ledger in a browser (tasks, plans, messages, votes, credit,
payouts, the network, live progress). Starlette and uvicorn load only when it is used."""
