# One virtual environment in .venv; every target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast bench bench-gpu results clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,experiments]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the demo photograph (third_party/chelsea), blurred, subsampled and made
# noisy: writes issr_demo/ (comparison.png) and prints PSNRs. Offline.
demo: $(STAMP)
	$(PY) -m issr_jax --output=issr_demo

# Lint and format checks, then every test; those needing ../shared/datasets skip with a
# reason when it is absent. One worker per core (at most 4): the tests run XLA:CPU
# single-threaded (tests/conftest.py), so one process leaves the other cores idle.
PYTEST := $(PY) -m pytest tests -ra -n auto --maxprocesses=4 --dist worksteal

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PYTEST)

test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

bench: $(STAMP)
	$(PY) -m experiments.bench

# The identity-fit and folder rows alone, for an accelerator: needs a jaxlib for it in
# .venv (e.g. pip install -U "jax[cuda12]"); prints the device in the fit rows.
bench-gpu: $(STAMP)
	$(PY) -m experiments.bench --sections=fits,paper_folder,div2krk --paper_fits=100 --chain_fits=18

clean:
	rm -rf $(VENV) issr_demo .pytest_cache
