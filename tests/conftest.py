"""Shared test set-up: a persistent model cache, offline W&B, one thread per process.

Tests run the real stack small (torch, DeepSpeed, Hydra, W&B offline), never mocks. The tiny
model (and the RL warm-start made from it) is cached in ``.pytest_cache/funcall`` so that a
second `make test` reuses it; tests about building it use their own empty folders.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BFCL_DATA = SHARED / "bfcl" / "data"

os.environ.setdefault("FUNCALL_CACHE", str(REPO / ".pytest_cache" / "funcall"))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HYDRA_FULL_ERROR", "0")


def run_train(args: list[str], run_dir: Path, timeout: float = 600, module: str = "funcall.train",
              env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m funcall.train ARGS hydra.run.dir=RUN_DIR`` in a subprocess."""
    cmd = [sys.executable, "-m", module, *args, f"hydra.run.dir={run_dir}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stderr[-4000:]}")
    return proc


def read_metrics(run_dir: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from funcall.models.tiny import ensure_tiny_model

    return ensure_tiny_model()


# A short SFT warm start of the RL presets (conf/debug/short_warm_start.yaml says why 100 steps).
STOPPING_POLICY = ["debug=short_warm_start"]


@pytest.fixture(scope="session")
def stopping_policy_run(tmp_path_factory) -> Path:
    """A run that builds the cached `STOPPING_POLICY` warm start, once, in one process (the cache
    key ignores ranks and ZeRO stage, so multi-rank tests reuse it)."""
    run = tmp_path_factory.mktemp("stopping_policy")
    run_train(["+experiment=entropy_grpo", "trainer.max_steps=0", *STOPPING_POLICY, "trainer.eval_size=8",
               "trainer.eval_max_new_tokens=8", "logger=none"], run, timeout=900)
    return run


@pytest.fixture(scope="session")
def stopping_policy(stopping_policy_run) -> list[str]:
    """Overrides selecting the cached `STOPPING_POLICY` warm start."""
    return STOPPING_POLICY


@pytest.fixture(scope="session")
def stopping_policy_dir(stopping_policy_run) -> Path:
    """The Hugging Face folder of the `STOPPING_POLICY` warm start."""
    import json

    return Path(json.loads((stopping_policy_run / "summary.json").read_text())["warm_start/path"])


# The multi-turn counterpart (conf/debug/short_multi_turn_warm_start.yaml: 150 steps of 2 episodes of
# at most 1024 tokens; the warm-start cache key holds the steps, the batch and trainer.max_length).
MULTI_TURN_POLICY = ["debug=short_multi_turn_warm_start"]


@pytest.fixture(scope="session")
def multi_turn_policy_run(tmp_path_factory) -> Path:
    """A run that builds the cached `MULTI_TURN_POLICY` warm start, once, in one process."""
    run = tmp_path_factory.mktemp("multi_turn_policy")
    run_train(["+experiment=multi_turn_grpo", "trainer.max_steps=0", *MULTI_TURN_POLICY, "trainer.eval_at_start=false",
               "trainer.eval_size=2", "trainer.export=false", "logger=none"], run, timeout=900)
    return run


@pytest.fixture(scope="session")
def multi_turn_policy(multi_turn_policy_run) -> list[str]:
    """Overrides selecting the cached `MULTI_TURN_POLICY` warm start (with the multi-turn presets)."""
    return MULTI_TURN_POLICY


@pytest.fixture(scope="session")
def multi_turn_policy_dir(multi_turn_policy_run) -> Path:
    """The Hugging Face folder of the `MULTI_TURN_POLICY` warm start."""
    import json

    return Path(json.loads((multi_turn_policy_run / "summary.json").read_text())["warm_start/path"])
