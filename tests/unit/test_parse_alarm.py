"""The unparseable alarm (funcall.trainers.parse_alarm): a warning once per streak of steps whose
completions do not parse; its config checked before anything loads; and a real RL run of the tiny
random-weight model (single- and multi-turn), whose completions never parse, logging
``rollout/unparseable`` 1.0 and saying so."""
from __future__ import annotations

import pytest

from conftest import read_metrics, run_train
from funcall.trainers.parse_alarm import UnparseableAlarm
from funcall.trainers.rl import RLTrainer
from funcall.utils.errors import ConfigError


def test_a_warning_once_per_streak_of_steps():
    alarm = UnparseableAlarm(steps=3, share=0.9, answer_format="hermes")
    said = {step: alarm.update(step, share) for step, share in
            enumerate([1.0, 0.95, 0.5, 0.9, 1.0, 1.0, 1.0, 1.0, 0.2, 1.0, 1.0, 1.0], start=1)}
    assert [step for step, text in said.items() if text] == [6, 12]  # steps 4-6, then 10-12; 7 and 8 go on quietly
    assert "steps 4-6" in said[6] and "'hermes'" in said[6] and "trainer.unparseable_alarm" in said[6]


def test_the_alarm_is_off_with_zero_steps_or_null():
    assert UnparseableAlarm.from_config({"steps": 0, "share": 0.5}, "python") is None
    assert UnparseableAlarm.from_config(None, "python") is None
    alarm = UnparseableAlarm.from_config({"steps": 1, "share": 1.0}, "python")
    assert alarm.update(1, 0.99) is None and alarm.update(2, 1.0)


@pytest.mark.parametrize("value,words", [
    ({"steps": -1, "share": 0.9}, "trainer.unparseable_alarm.steps=-1: must be >= 0"),
    ({"steps": 2.5, "share": 0.9}, "trainer.unparseable_alarm.steps=2.5: must be an integer"),
    ({"steps": 5, "share": 0}, "trainer.unparseable_alarm.share=0: must be > 0 and <= 1"),
    ({"steps": 5, "share": 1.5}, "trainer.unparseable_alarm.share=1.5: must be <= 1"),
    ({"steps": 5}, "must have exactly the keys steps, share"),
])
def test_bad_alarm_values_are_one_config_error(value, words):
    with pytest.raises(ConfigError, match=words.replace(".", r"\.").replace("(", r"\(")):
        RLTrainer(unparseable_alarm=value).check_alarm()
    RLTrainer(unparseable_alarm=None).check_alarm()
    RLTrainer(unparseable_alarm={"steps": 0, "share": 1}).check_alarm()


RL = ["+experiment=grpo", "trainer.warm_start=null", "logger=none", "trainer.max_steps=2", "rollout.num_generations=2",
      "trainer.prompts_per_step=4", "trainer.micro_batch_size=8", "rollout.max_new_tokens=8", "trainer.eval_at_start=false",
      "trainer.eval_size=4", "trainer.eval_max_new_tokens=8"]


def test_a_run_whose_completions_never_parse_says_so(tmp_path):
    run = tmp_path / "run"
    proc = run_train([*RL, "trainer.unparseable_alarm.steps=2"], run)
    rows = read_metrics(run)
    steps = [r for r in rows if "reward/mean" in r]
    assert [r["rollout/unparseable"] for r in steps] == [1.0, 1.0]  # random weights, 8 tokens: nothing parses
    assert all(r["rollout/no_call_frac"] == 0.0 for r in steps)
    final = [r for r in rows if "eval/ast_accuracy" in r][-1]
    assert final["eval/unparseable"] == 1.0 and final["eval/no_call_frac"] == 0.0
    warning = "rollout/unparseable >= 0.9 for 2 steps in a row (steps 1-2"
    assert proc.stderr.count(warning) == 1 and warning in (run / "train.log").read_text()


def test_a_bad_alarm_value_stops_the_run_with_one_line(tmp_path):
    run = tmp_path / "run"
    proc = run_train([*RL, "trainer.unparseable_alarm.share=2"], run, check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and errors == ["error: trainer.unparseable_alarm.share=2: must be <= 1"], proc.stderr[-2000:]
    assert not (run / "metrics.jsonl").exists()


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores (16 s; make test keeps the single-turn run)
def test_a_multi_turn_run_counts_the_episodes_steps(tmp_path):
    run = tmp_path / "run"
    proc = run_train(["+experiment=multi_turn_grpo", "trainer.warm_start=null", "logger=none", "trainer.max_steps=2",
                      "rollout.num_generations=2", "trainer.prompts_per_step=2", "trainer.micro_batch_size=4",
                      "rollout.max_new_tokens=8", "trainer.eval_at_start=false", "trainer.eval_size=2",
                      "trainer.eval_max_new_tokens=8", "trainer.export=false", "trainer.unparseable_alarm.steps=2"], run)
    rows = read_metrics(run)
    steps = [r for r in rows if "reward/mean" in r]
    assert all(r["episode/steps_mean"] >= 1 and r["rollout/unparseable"] == 1.0 for r in steps)  # every step unparsed
    final = [r for r in rows if "eval/episode_pass" in r][-1]
    assert final["eval/unparseable"] == 1.0 and final["eval/no_call_frac"] == 0.0
    assert proc.stderr.count("rollout/unparseable >= 0.9 for 2 steps in a row") == 1
