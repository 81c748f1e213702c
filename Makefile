# The README's two commands: `make run` (set up, build the default models, print their reports)
# and `make test` (set up, run the tests). A machine with a GPU runs them with CONSTRAINTS= so that
# pip takes the CUDA build of torch instead of the pinned CPU one.
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= -c constraints-cpu.txt
DEFAULT_MODELS = configs/sentiment-sample.toml configs/intents-quick.toml

.PHONY: setup run test test-all bench

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q $(CONSTRAINTS) -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/ftsuite up --quiet $(DEFAULT_MODELS)

test: setup
	$(VENV)/bin/python -m pytest

bench: setup
	FTSUITE_DATA=$${FTSUITE_DATA:-../shared/data} $(VENV)/bin/python benchmarks/train_quality.py --table
