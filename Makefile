# Two commands do everything on a fresh machine:  `make demo` (the explorer)  and  `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test test-fast lint world bench handouts clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(PY) -m streamlit run explorer/app.py --server.address 127.0.0.1 --server.headless true

test: setup
	$(PY) -m pytest

test-fast: setup   ## every module's quick tests, under 90 s on 2 CPU cores; `make test` (what CI runs) runs all
	$(PY) -m pytest -m "not slow"

lint: setup   ## what CI checks before the tests: ruff's rules and format (settings in pyproject.toml)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

world: setup   ## data/world and data/runs from scratch, the LMC lab included (33 min 34 s on a slow 2-core host, docs/world.md)
	rm -rf data/world data/runs/world-* data/runs/lmc-* build/world
	$(PY) -m core world --out data --work build/world

bench: setup
	$(PY) bench/sweep.py

# every notebook executed (full mode; HANDOUTS_ARGS=--quick for quick mode) and exported to build/handouts/*.html
# without the solutions, figures drawn offline; --check counts them in headless Chromium when it is installed
HANDOUTS_ARGS ?= $(if $(wildcard /usr/bin/chromium),--check,)
handouts: setup
	$(PY) notebooks/handouts.py $(HANDOUTS_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
