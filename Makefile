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

.PHONY: docs test-wheel
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
	$(BIN)/python -m pip install --quiet -e '.[all,dev,docs]'
	@$(MAKE) --no-print-directory interop-tools \
		|| echo "note: npm unreachable; the MCP conformance and everything-server tests will be skipped"
	rm -f $(VENV)/.installed-*
	touch $@

models-test: $(STAMP)
	$(BIN)/lamas models install smollm2-135m

models: models-test
	$(BIN)/lamas models install qwen2.5-coder-1.5b

# The travel case study (paper §4.2) on the embedded demo model. The default instruction's
# date is relative to today (nine days ahead), so it is in the future whatever day this runs.
demo: models
	$(BIN)/lamas demo travel

demo-music: models
	$(BIN)/lamas demo music

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
	$(BIN)/python benchmarks/understanding.py --models none smollm2-135m qwen2.5-coder-1.5b --split heldout
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

# Screening 1 MB texts (RE2 rules vs the old backtracking re, same run) and a node's card
# latency while it screens them, idle as the baseline.
.PHONY: bench-screening
bench-screening: $(STAMP)
	$(BIN)/python benchmarks/screening.py

# The Ray tests alone (they also run in `make test`): a local Ray session per module.
test-ray: $(STAMP)
	$(BIN)/pytest -m ray -q

# The example vendors' data (travel timetables, places, hotels, maps; the music catalogue)
# and their published vocabularies, regenerated from the curated tables in data/src/.
.PHONY: vendor-data
vendor-data: $(STAMP)
	$(BIN)/python scripts/gen_vendor_data.py

# The detector's learned layer: trains on the corpora in tests/data/injection (seed 18) and
# calibrates its threshold on held-out benign traffic; rewrites the shipped weights
# (src/lamas/security/data/injection_classifier.npz, ~60 KB) in about two minutes.
.PHONY: injection-model bench-injection-detection
injection-model: $(STAMP)
	$(BIN)/python scripts/train_injection.py

# The sentence-level layer (third round; opt-in, see docs/injection.md): trains on the same
# corpora (seed 18), compares with the word-piece layer on the in-repo held-out sets, the
# Debian dev set and the cross-family split, and rewrites
# src/lamas/security/data/sentence_classifier.npz (3 KB) with the cascade's gate.
.PHONY: sentence-model
sentence-model: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python scripts/train_sentences.py --variants cheap,pieces \
		--second pieces --cross-family --out src/lamas/security/data/sentence_classifier.npz

# Detection rate and false positives per corpus and family (in-repo, external,
# cross-family), p50/p95 latency per output; no agent runs.
bench-injection-detection: $(STAMP)
	$(BIN)/python benchmarks/injection.py --detection-only

# The structural defence with the 1.5B demo model told to obey what it reads (one thread,
# three ReAct steps): can an injected tool output add a step, change a recipient or
# redirect a payment (tests/data/structural_attacks.jsonl), with and without the guards and the
# detector. 12 attacks x 4 configurations: several hours on two busy cores (one process per
# configuration with --model-configs X --results NAME runs them side by side).
.PHONY: bench-injection-structural
bench-injection-structural: models
	OMP_WAIT_POLICY=passive $(BIN)/python benchmarks/injection.py --structural --gullible \
		--no-detection --no-perplexity --model qwen2.5-coder-1.5b --model-limit 12 \
		--model-clean 3 --model-steps 3 --model-tokens 160

# The documentation site (mkdocs Material + mkdocstrings) into site/; every warning is an
# error. Its code examples run in `make test` (tests/docs/).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# `python -m build` makes a wheel; a clean venv installs it with the `local` extra and runs
# the README's quickstart (slow: it installs from the package index).
test-wheel: $(STAMP) models-test
	$(BIN)/pytest -m slow -q tests/docs/test_wheel.py

# Interop kits from npm, into .interop/ (nothing is fetched when the tests run): Node 22
# from npm's `node` package (the MCP conformance suite needs it; Debian's is older), the
# MCP conformance suite and the MCP "everything" server (a lamas agent calls its tools).
INTEROP := .interop
.PHONY: interop-tools conformance
interop-tools:
	npm install --prefix $(INTEROP) --no-audit --no-fund --loglevel=error \
		node@22.23.3 @modelcontextprotocol/conformance@0.1.16 \
		@modelcontextprotocol/server-everything@2026.8.31

# MCP conformance (server scenarios against `lamas mcp --http`) and the A2A TCK against
# `lamas serve` on all three bindings and against the a2a-sdk's sample agent, when the
# TCK is installed (docs/interop.md says how); prints the counts.
conformance: $(STAMP)
	$(BIN)/pytest -q -rs -s -m conformance tests/interop/test_conformance.py tests/interop/test_a2a_tck.py

# Fault tolerance (docs/fault-tolerance.md): the chaos suite alone (also part of
# `make test`), and the load benchmark (500 and 5,000 in-process tasks, 200 `lamas ask`
# clients against the networked set-up).
.PHONY: test-chaos bench-load
test-chaos: $(STAMP)
	$(BIN)/pytest -q tests/chaos

bench-load: $(STAMP)
	$(BIN)/python benchmarks/load.py

# Fourth round: the learned layer's training data, features, heads and window penalty
# compared on in-repo held-out sets and a cross-family split of the grammar families
# (scripts/compare_injection.py; never an external corpus). Writes
# benchmarks/results/injection-compare-full.json; the MLP head makes it ~40 min on two cores.
.PHONY: injection-compare
injection-compare: $(STAMP)
	OMP_WAIT_POLICY=passive $(BIN)/python scripts/compare_injection.py
