"""The agent loop is chosen by config and checked against the data, never guessed (issue 27, item 4).

``agent=single_turn`` / ``agent=multi_turn`` (conf/agent/) are two plug-ins of one Protocol; the
multi-turn data configs select the multi-turn one. A run whose data is of the other kind, or whose
``agent.*`` value is bad, stops with one line (exit 2) before any step; the trainers hold no
branch on the kind of data.
"""
from __future__ import annotations

import ast

import pytest
from hydra import compose, initialize_config_dir
from test_fail_early import assert_nothing_written, assert_one_line_error

from conftest import REPO, run_train

SFT = ["+experiment=sft", "trainer.max_steps=1", "trainer.eval_size=2", "trainer.eval_max_new_tokens=8",
       "trainer.micro_batch_size=2", "logger=none"]


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return compose("train", overrides=list(overrides))


@pytest.mark.parametrize(("overrides", "target"), [
    ([], "funcall.agents.single_turn.SingleTurn"),
    (["data=multi_turn_synthetic"], "funcall.agents.multi_turn.MultiTurn"),
    (["data=bfcl_multi_turn", "data.path=x"], "funcall.agents.multi_turn.MultiTurn"),
    (["+experiment=multi_turn_grpo"], "funcall.agents.multi_turn.MultiTurn"),
    (["+experiment=entropy_grpo"], "funcall.agents.single_turn.SingleTurn"),
])
def test_the_data_config_selects_the_agent_loop(overrides, target):
    assert composed(*overrides).agent._target_ == target


def test_the_multi_turn_presets_set_their_episode_budgets_on_the_agent():
    cfg = composed("+experiment=multi_turn_grpo")
    assert (cfg.agent.max_steps_per_turn, cfg.agent.max_episode_tokens) == (4, 2560)
    assert "max_steps_per_turn" not in cfg.rollout and "max_episode_tokens" not in cfg.rollout


@pytest.mark.parametrize(("overrides", "words"), [
    pytest.param(["data=multi_turn_synthetic", "data.source.eval_size=2", "agent=single_turn"],  # 35 s: make test-full
                 ["multi-turn tasks", "agent=multi_turn"], marks=pytest.mark.slow),
    (["agent=multi_turn"], ["single-turn examples", "agent=single_turn"]),
])
def test_data_of_the_other_kind_stops_the_run_with_one_line(tmp_path, overrides, words):
    proc = run_train([*SFT, *overrides], tmp_path, check=False)
    assert_one_line_error(proc, *words)
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("override", ["agent.max_steps_per_turn=0", "agent.max_episode_tokens=-5",
                                      "agent.timeout_s=0"])
def test_a_bad_agent_value_stops_the_run_before_anything_loads(tmp_path, override):
    proc = run_train(["+experiment=multi_turn_grpo", "trainer.warm_start=null", "logger=none", override], tmp_path,
                     check=False)
    assert_one_line_error(proc, override.split("=")[0])
    assert_nothing_written(tmp_path)


def test_the_trainers_do_not_branch_on_the_kind_of_data():
    """The names that told the two kinds apart in the loops are gone from them: the agent loop is asked."""
    banned = {"multi_turn_task", "episodes", "EnvPool", "collect_episodes", "encode_for_sft", "max_steps_per_turn"}
    for name in ("rl.py", "build.py", "sft.py", "scoring.py", "rl_update.py", "session.py"):
        tree = ast.parse((REPO / "funcall" / "trainers" / name).read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
               {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not used & banned, (name, used & banned)
