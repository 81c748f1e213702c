# The README's two commands: `make run` (set up, build the default models, export them to ONNX,
# launch the demo hub) and `make test` (set up, run the tests). A machine with a GPU runs them with
# CONSTRAINTS= so that pip takes the CUDA build of torch instead of the pinned CPU one.
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= -c constraints-cpu.txt
FTSUITE = $(VENV)/bin/ftsuite
export FTSUITE_HOME ?= .ftsuite
DEFAULT_MODELS = configs/sentiment-sample.toml configs/intents-quick.toml
SERVED = sentiment-sample intents embedder-minilm
# Models trained on the shared datasets (FTSUITE_DATA): each app uses one in place of the main job's
# model when it has been built (the news monitor's sentiment and NER, the chatbot's intents). The news
# monitor's MiniLM model is distilled from an mpnet LoRA teacher, built first; its static int8 ONNX graph can
# serve as the monitor's sentiment_fallback (a cascade; configs/monitor-sample.toml).
TEACHERS = sentiment-news-mpnet
FULL_MODELS = sentiment-news-distilled ner-conll2003 intents-banking77

.PHONY: setup run models models-full test bench

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q $(CONSTRAINTS) -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# Build what is missing (a second run reuses it), export each served model to int8 ONNX once.
# The support chatbot indexes the sample help centre itself on first start; the recommender is
# trained on MovieLens-100K (read from the recbole wheel, fetched from PyPI without installing it).
models: setup
	$(FTSUITE) up --quiet $(DEFAULT_MODELS)
	$(FTSUITE) models embedder minilm
	@for name in $(SERVED); do \
	  test -f $(FTSUITE_HOME)/artifacts/$$name/onnx/model.int8.onnx || \
	  $(FTSUITE) export $(FTSUITE_HOME)/artifacts/$$name --int8 --quiet || exit 1; \
	done
	test -f $(FTSUITE_HOME)/recommender/ml-100k/recommender.json || \
	  ( $(FTSUITE) data fetch ml-100k && $(FTSUITE) recommend train --dataset ml-100k )

# Three to four hours on 2 cores (BENCHMARKS.md section 4); needs ../shared/data or FTSUITE_DATA.
models-full: models
	$(FTSUITE) models fetch mpnet
	@for name in $(TEACHERS); do \
	  FTSUITE_DATA=$${FTSUITE_DATA:-../shared/data} $(FTSUITE) up --quiet configs/$$name.toml || exit 1; \
	  grep -qs '"method": "static' $(FTSUITE_HOME)/artifacts/$$name/manifest.json || \
	  FTSUITE_DATA=$${FTSUITE_DATA:-../shared/data} $(FTSUITE) export $(FTSUITE_HOME)/artifacts/$$name --int8 static --quiet || exit 1; \
	done
	@for name in $(FULL_MODELS); do \
	  FTSUITE_DATA=$${FTSUITE_DATA:-../shared/data} $(FTSUITE) up --quiet configs/$$name.toml || exit 1; \
	  test -f $(FTSUITE_HOME)/artifacts/$$name/onnx/model.int8.onnx || \
	  $(FTSUITE) export $(FTSUITE_HOME)/artifacts/$$name --int8 --quiet || exit 1; \
	done

run: models
	$(FTSUITE) hub

test: setup
	$(VENV)/bin/python -m pytest

bench: setup
	FTSUITE_DATA=$${FTSUITE_DATA:-../shared/data} $(VENV)/bin/python benchmarks/train_quality.py --table
