"""`lamas dashboard`: the ledger in a browser (tasks, plans, messages, votes, credit,
payouts, the network, live progress). Starlette and uvicorn load only when it is used."""

from lamas._extras import need

need("starlette", "dashboard", "the dashboard")
need("jinja2", "dashboard", "the dashboard")
