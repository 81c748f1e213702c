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
# monitor's MiniLM model is distilled from an mpnet LoRA teacher, built first, which serves as the
# monitor's sentiment_fallback (a cascade; configs/monitor-sample.toml). Both sentiment models are exported
# with static int8 (calibrated on their training texts: a headline's answer does not depend on its batch).
TEACHERS = sentiment-news-mpnet
FULL_MODELS = sentiment-news-distilled ner-conll2003 intents-banking77
STATIC_INT8 = sentiment-news-mpnet sentiment-news-distilled

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
	@for name in $(TEACHERS) $(FULL_MODELS); do \
	  FTSUITE_DATA=$${FTSUITE_DATA:-../shared/data} $(FTSUITE) up --quiet configs/$$name.toml || exit 1; \
	  case " $(STATIC_INT8) " in \
	    *" $$name "*) method=static; grep -qs '"method": "static' $(FTSUITE_HOME)/artifacts/$$name/manifest.json && continue;; \
	    *) method=; test -f $(FTSUITE_HOME)/artifacts/$$name/onnx/model.int8.onnx && continue;; \
	  esac; \
	  FTSUITE_DATA=$${FTSUITE_DATA:-../shared/data} $(FTSUITE) export $(FTSUITE_HOME)/artifacts/$$name --int8 $$method --quiet || exit 1; \
	done

run: models
	$(FTSUITE) hub

test: setup
	$(VENV)/bin/python -m pytest

bench: setup
	FTSUITE_DATA=$${FTSUITE_DATA:-../shared/data} $(VENV)/bin/python benchmarks/train_quality.py --table
