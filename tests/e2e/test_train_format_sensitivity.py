"""End to end: ``data=bfcl_format_sensitivity`` trains with RL (``reward=format_sensitivity``) and SFT
on the tiny model, the held-out entries graded by the same rule (``eval/ast_accuracy``, ``eval/format_ok``).

The tiny model's context is 1024 tokens, shorter than many of bfcl-eval's system prompts, so the
runs skip over-long examples (``trainer.overlong=skip``); that the rest trains, and that the
held-out evaluation runs and counts the unrun prompts, is the check.
"""
from __future__ import annotations

import json

import pytest

from conftest import read_metrics, run_train
from funcall.envs.bfcl_data import installed_bfcl_data

pytest.importorskip("bfcl_eval")
DATA = ["data=bfcl_format_sensitivity", f"data.path={installed_bfcl_data()}", "data.source.categories=[simple_python]",
        "data.source.eval_size=2", "trainer.overlong=skip", "trainer.eval_size=4", "trainer.eval_max_new_tokens=8",
        "logger=none"]


def test_a_short_rl_run_trains_on_format_sensitivity(tmp_path):
    run_train(["+experiment=grpo", *DATA, "reward=format_sensitivity", "trainer.warm_start=null", "trainer.max_steps=1",
               "trainer.prompts_per_step=2", "rollout.num_generations=2", "rollout.max_new_tokens=16",
               "trainer.micro_batch_size=4"], tmp_path)
    rows = read_metrics(tmp_path)
    step = next(r for r in rows if "reward/mean" in r)
    assert step["step"] == 1 and step["tokens/prompt_mean"] > 300  # bfcl-eval's system prompt, not ours
    assert 0.0 <= step["rollout/unparseable"] <= 1.0
    assert [r["step"] for r in rows if "eval/ast_accuracy" in r] == [0, 1]
    final = json.loads((tmp_path / "summary.json").read_text())
    assert final["steps"] == 1 and "eval/format_ok" in final


def test_a_short_sft_run_trains_on_format_sensitivity(tmp_path):
    run_train(["+experiment=sft", *DATA, "trainer.max_steps=2", "trainer.micro_batch_size=2", "trainer.max_length=1024"],
              tmp_path)
    rows = read_metrics(tmp_path)
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2] and all(r["tokens/target"] > 0 and r["loss/think"] == 0.0 for r in steps)
    assert rows[-1]["eval/n"] == 4
