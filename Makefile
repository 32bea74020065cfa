# funcall: `make help` lists the targets. Every target that runs Python depends on `install`,
# so `make train` and `make test` work alone on a fresh clone.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -c constraints.txt
STAMP := $(VENV)/.installed
# One thread per process: on 2 cores, two ranks each with 2 OpenMP threads thrash.
export OMP_NUM_THREADS ?= 1
# No W&B account needed: runs are written offline and can be uploaded later with `wandb sync`.
export WANDB_MODE ?= offline
export TOKENIZERS_PARALLELISM ?= false

.DEFAULT_GOAL := help
.PHONY: help install train test test-full lint clean

help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## create or update .venv/ (torch pinned to the CPU 2.13.0 build); no-op when up to date

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) -q --upgrade pip
	$(PIP) -q torch==2.13.0
	$(PIP) -q -e '.[test,sweeps]'
	touch $(STAMP)

train: install ## the main job: entropy-guided GRPO on the embedded tiny model (SFT warm-start cached on first use)
	$(BIN)/python -m funcall.train +experiment=entropy_grpo $(ARGS)

test: install ## fast tests (< 20 min on 2 cores), what CI runs
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

test-full: install ## every test, including the slow end-to-end runs
	$(BIN)/python -m pytest -q $(ARGS)

lint: install ## ruff
	$(BIN)/ruff check funcall tests experiments

clean: ## remove caches and outputs (not .venv)
	rm -rf outputs multirun .pytest_cache
