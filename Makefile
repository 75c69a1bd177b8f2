# twinrank: `make serve` runs the service on an embedded default bundle, `make test` runs the test suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
BUNDLES ?= bundles

.PHONY: test lint serve serve-install distill ship clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned to the local CPU wheel; an unpinned torch would pull GBs of CUDA.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[serve]'
	touch $@

test: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports

distill: $(VENV)/.dev-installed
	$(BIN)/twinrank distill --data ../shared/data/qadsm/de --out runs/de-ens --config configs/qadsm-de-ensemble.toml

# The shipped student (shipped/twinbert-de) from the reported run: int8 towers, vocabulary trimmed to the pieces
# of the train split and Debian's German word list (installed here when absent), then scored on the test split.
SHIPPED ?= shipped/twinbert-de
WORDS ?= /usr/share/dict/ngerman
QADSM ?= ../shared/data/qadsm/de
RUN ?= runs/de-ens
ship: $(VENV)/.dev-installed
	@[ -f $(WORDS) ] || (apt-get update -qq && apt-get install -y -qq wngerman) || \
		{ echo "error: no German word list at $(WORDS) (Debian: apt-get install wngerman; or make ship WORDS=...)"; exit 2; }
	$(BIN)/twinrank export --run $(RUN) --out $(SHIPPED) --force --vocab-from $(QADSM) --word-list $(WORDS) --no-fp32
	$(BIN)/twinrank export --run $(RUN) --out $(RUN)/export-untrimmed --force
	$(BIN)/twinrank evaluate --model $(SHIPPED) --baseline $(RUN)/export-untrimmed --data $(QADSM) \
		--out reports/qadsm-de/shipped --record

serve-install: $(VENV)/.serve-installed

# Serving needs no torch, also for the default bundle: when $(BUNDLES) has none yet, the shipped student's ONNX
# ad tower (shipped/twinbert-de) encodes the project's sample catalog, with the serving extras only.
serve: $(VENV)/.serve-installed
	@if [ ! -f $(BUNDLES)/CURRENT ]; then \
		echo "no bundle under $(BUNDLES)/: building the default one (shipped student, sample catalog)"; \
		$(BIN)/python -m offline.publish.default_bundle --bundles $(BUNDLES) || exit 1; \
	fi
	$(BIN)/twinrank serve --bundles $(BUNDLES) --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache
