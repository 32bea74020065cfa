"""Runs that would go wrong without a word stop at once instead, with one line (issue 26).

Bad values stop before anything is loaded or written, whatever launched them (one process or
2 ranks under torchrun); a second run into a folder in use stops; prompts and examples over
their token budget are an error naming them, or skipped and counted, and never cut.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BFCL_DATA, REPO, read_metrics, run_train

RL = ["+experiment=grpo", "trainer.warm_start=null", "logger=none"]
SFT = ["+experiment=sft", "trainer.eval_size=4", "trainer.eval_max_new_tokens=8", "trainer.micro_batch_size=4",
       "logger=none"]
WRITTEN = ("metrics.jsonl", "summary.json", "checkpoints", "wandb", "hf_model", "tables")


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, exactly one ``error:`` line holding ``words``, no traceback."""
    errors = error_lines(proc)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert all(w in errors[0] for w in words), errors[0]
    return errors[0]


def assert_nothing_written(run_dir: Path) -> None:
    assert not [name for name in WRITTEN if (run_dir / name).exists()], sorted(p.name for p in run_dir.iterdir())


BAD_VALUES = [  # (override, words the one line must hold)
    ("optim.optimizer.lr=-1e-3", ["optim.optimizer.lr", "> 0"]),
    ("rollout.temperature=-1", ["rollout.temperature"]),
    ("rollout.temperature=0", ["rollout.temperature"]),
    ("rollout.top_p=1.5", ["rollout.top_p"]),
    ("rollout.num_generations=0", ["rollout.num_generations"]),
    # GRPO with a group of one: every advantage 0; with the default batch the old error blamed micro_batch_size
    ("rollout.num_generations=1", ["rollout.num_generations=1", "at least 2"]),
    ("rollout.max_new_tokens=0", ["rollout.max_new_tokens"]),
    ("trainer.max_steps=-1", ["trainer.max_steps"]),
    ("trainer.micro_batch_size=3", ["trainer.micro_batch_size=3"]),
    ("trainer.overlong=truncate", ["trainer.overlong", "error, skip"]),
    ("trainer.logit_chunk=0", ["trainer.logit_chunk"]),
    ("loss.aggregation=seq_mean_token_sum_norm loss.max_len=null", ["loss.max_len"]),
    ("optim.scheduler.warmup_ratio=2", ["optim.scheduler.warmup_ratio"]),
    ("model.path=does/not/exist/here", ["model.path=does/not/exist/here", "no such folder"]),
]


@pytest.mark.parametrize("override,words", BAD_VALUES, ids=[o for o, _ in BAD_VALUES])
def test_a_bad_value_stops_at_once_with_one_line_naming_it(tmp_path, override, words):
    run = tmp_path / "run"
    t0 = time.time()
    proc = run_train([*RL, *override.split()], run, check=False)
    assert_one_line_error(proc, *words)
    assert time.time() - t0 < 60  # before any model, data or warm start is loaded
    assert_nothing_written(run)
    assert "error:" in (run / "train.log").read_text()  # the log file holds what the console said


def test_a_model_folder_without_weights_or_tokenizer_is_named(tmp_path):
    """An empty folder ended in a 40-line traceback ("need sentencepiece or tiktoken")."""
    empty, config_only = tmp_path / "empty_model", tmp_path / "config_only"
    empty.mkdir()
    config_only.mkdir()
    (config_only / "config.json").write_text("{}")
    train_proc = run_train([*RL, f"model.path={empty}"], tmp_path / "empty_run", check=False)
    assert "config.json" in assert_one_line_error(train_proc, f"model.path={empty}", "weights", "tokenizer")
    assert_nothing_written(tmp_path / "empty_run")
    for app, args in (("funcall.train", RL), ("funcall.evaluate", [f"eval.data_dir={BFCL_DATA}", "eval.limit=1"])):
        run = tmp_path / app
        proc = run_train([*args, f"model.path={config_only}"], run, module=app, check=False)
        line = assert_one_line_error(proc, f"model.path={config_only}", "weights", "tokenizer")
        assert "config.json" not in line.split("lacks", 1)[1]  # it has one
        assert_nothing_written(run)


def test_a_sft_value_is_checked_too(tmp_path):
    proc = run_train([*SFT, "trainer.grad_accum=0"], tmp_path / "run", check=False)
    assert_one_line_error(proc, "trainer.grad_accum")


@pytest.mark.distributed
def test_under_torchrun_a_bad_value_is_one_line_and_exit_status_2(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "funcall.train", *RL,
           "trainer.prompts_per_step=3", f"hydra.run.dir={run}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert proc.returncode != 0
    errors = error_lines(proc)
    assert errors == ["error: trainer.prompts_per_step=3 must divide by the 2 ranks"], proc.stderr[-3000:]
    # the first rank out exits 2 (torchrun's summary names it, then stops the other, which may not
    # have exited yet); no rank prints a traceback (torchrun prints its own, which funcall cannot stop)
    root_cause = proc.stderr.split("Root Cause", 1)[1]
    assert "exitcode  : 2 " in root_cause, proc.stderr[-3000:]
    assert not [line for line in proc.stderr.splitlines() if line.strip().startswith("File ") and "funcall" in line]
    assert_nothing_written(run)


@pytest.mark.slow  # make test-full: two 2-rank launches and a warm start (~1.5 min on 2 cores)
@pytest.mark.distributed
def test_a_distributed_launch_on_a_cold_warm_start_cache_stops_with_the_command_that_builds_it(tmp_path, tiny_model_dir):
    """Under torchrun every rank trained the warm start together, silently (36 min on 2 CPU ranks):
    now every rank stops with one line giving the one-process command, which builds it."""
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(Path(os.environ["FUNCALL_CACHE"]) / "models", cache / "models")  # the tiny model, no warm start
    env = {**os.environ, "FUNCALL_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    args = ["+experiment=entropy_grpo", "trainer.warm_start.steps=2", "trainer.warm_start.eval_size=2",
            "trainer.max_steps=1", "logger=none", f"hydra.run.dir={run}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "funcall.train", *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    errors = error_lines(proc)
    assert proc.returncode != 0 and len(errors) == 1, proc.stderr[-3000:]
    assert "exitcode  : 2 " in proc.stderr.split("Root Cause", 1)[1] and str(cache / "warm_start") in errors[0]
    command = errors[0].split("then relaunch: ", 1)[1].split(" (or skip it", 1)[0]
    assert "hydra.run.dir" not in command and "trainer.warm_start.steps=2" in command
    assert_nothing_written(run)
    assert not (cache / "warm_start").exists() or not list((cache / "warm_start").glob("[0-9a-f]*"))
    built = subprocess.run([sys.executable, *shlex.split(command)[1:], f"hydra.run.dir={tmp_path / 'build'}"],
                           cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    assert [d for d in (cache / "warm_start").iterdir() if (d / "hf_model" / "config.json").exists()]


# -- one run per folder ----------------------------------------------------------------------------

def test_a_second_run_into_a_folder_in_use_stops_and_the_first_is_unharmed(tmp_path):
    run = tmp_path / "run"
    args = [*SFT, "trainer.max_steps=6", "seed=1"]
    first = subprocess.Popen([sys.executable, "-m", "funcall.train", *args, f"hydra.run.dir={run}"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        for line in first.stdout:  # the lock is held once the run says where it is
            if line.startswith("run folder:"):
                break
        second = run_train([*SFT, "trainer.max_steps=6", "seed=2"], run, check=False)
        assert_one_line_error(second, f"hydra.run.dir={run}", "in use by another run", f"pid {first.pid}")
        assert first.wait(timeout=600) == 0, first.stderr.read()[-3000:]
    finally:
        first.kill()
    steps = [row["step"] for row in read_metrics(run) if "loss" in row]
    assert steps == list(range(1, 7))  # one row per step: the second run wrote nothing
    assert json.loads((run / "summary.json").read_text())["steps"] == 6


def test_the_lock_dies_with_its_process(tmp_path):
    """A run killed with SIGKILL leaves no lock behind: the kernel drops it with the process."""
    from funcall.utils.run_lock import try_lock

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from funcall.utils.run_lock import try_lock; h, _ = try_lock(Path(sys.argv[1])); "
                               "print('held', flush=True); time.sleep(600)", str(tmp_path)],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    handle, owner = try_lock(tmp_path)
    assert handle is None and owner.startswith(f"pid {holder.pid}")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    handle, owner = try_lock(tmp_path)
    assert handle is not None and owner is None
    handle.close()


# -- nothing is ever cut ----------------------------------------------------------------------------

def test_rl_prompts_over_the_context_are_an_error_not_cut(tmp_path):
    """BFCL's JSON tool lists do not fit the tiny model's context: the old loop kept the last 512
    tokens of each prompt (its tools gone); now the run names the example and the budget."""
    run = tmp_path / "run"
    proc = run_train([*RL, "data=bfcl", f"data.path={BFCL_DATA}", "trainer.max_steps=1", "rollout.num_generations=2",
                      "trainer.prompts_per_step=2", "trainer.micro_batch_size=4", "trainer.eval_at_start=false"],
                     run, check=False)
    line = assert_one_line_error(proc, "example ", "prompt has", "token budget", "trainer.max_prompt_length",
                                 "trainer.overlong=skip")
    assert "the model's context 1024 less rollout.max_new_tokens" in line


def test_rl_prompts_over_the_budget_are_skipped_and_counted_when_asked(tmp_path):
    run = tmp_path / "run"
    args = [*RL, "trainer.max_steps=2", "rollout.num_generations=2", "trainer.prompts_per_step=4",
            "trainer.micro_batch_size=8", "rollout.max_new_tokens=8", "trainer.eval_at_start=false",
            "trainer.eval_size=4", "trainer.eval_max_new_tokens=8", "trainer.table_every=1",
            "trainer.max_prompt_length=100"]  # synthetic prompts: 56-227 tokens, median 110
    assert_one_line_error(run_train(args, tmp_path / "strict", check=False), "example synthetic-train-",
                          "over the 100-token budget (trainer.max_prompt_length)")
    proc = run_train([*args, "trainer.overlong=skip"], run)
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["tokens/prompt_mean"] <= 100 for r in rows)  # every prompt whole and within the budget
    skipped = sum(r["data/skipped_long_prompts"] for r in rows)
    assert skipped > 0
    assert json.loads((run / "summary.json").read_text())["data/skipped_long_prompts"] == skipped
    assert "skipping examples whose prompt is over the budget" in proc.stderr
    assert f"data/skipped_long_prompts {int(skipped)}" in (run / "train.log").read_text()  # the closing line


def test_sft_examples_over_max_length_are_an_error_or_skipped_never_cut(tmp_path):
    args = [*SFT, "trainer.max_steps=2", "trainer.max_length=200"]  # synthetic examples are ~150-480 tokens
    assert_one_line_error(run_train(args, tmp_path / "strict", check=False), "example ", "trainer.max_length")
    run = tmp_path / "skip"
    run_train([*args, "trainer.overlong=skip"], run)
    rows = [r for r in read_metrics(run) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2] and all(r["data/skipped_long_examples"] > 0 for r in rows)
    assert all(r["tokens/step"] <= 200 * 4 for r in rows)  # 4 whole examples of at most 200 tokens


def test_the_run_log_holds_what_the_console_said(tmp_path):
    """``train.log`` was empty; the run folder and a closing line were never printed."""
    run = tmp_path / "run"
    proc = run_train([*SFT, "trainer.max_steps=2"], run)
    log = (run / "train.log").read_text()
    assert f"run folder: {run}" in proc.stdout and f"run folder: {run}" in log
    closing = [line for line in proc.stdout.splitlines() if line.startswith("done: 2 steps in ")]
    assert closing and "eval/ast_accuracy" in closing[0] and closing[0].endswith(f"results in {run}")
    assert closing[0] in log


def test_a_warm_start_about_to_be_built_says_so_and_how_to_skip_it(tmp_path, tiny_model_dir):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(Path(os.environ["FUNCALL_CACHE"]) / "models", cache / "models")  # the tiny model, not its warm start
    run = tmp_path / "run"
    run_train(["+experiment=entropy_grpo", "trainer.max_steps=0", "trainer.warm_start.steps=2",
               "trainer.warm_start.eval_size=2", "trainer.eval_size=2", "trainer.eval_max_new_tokens=4",
               "trainer.export=false", "logger=none"], run, env={"FUNCALL_CACHE": str(cache)})
    line = next(x for x in (run / "train.log").read_text().splitlines() if "warm start:" in x)
    for words in ("2 SFT steps", str(cache / "warm_start"), "trainer.warm_start.steps=N", "model.path=DIR",
                  "trainer.warm_start=null"):
        assert words in line, line
    # its closing line names the folder it is cached in (it is built in a temporary one, then renamed)
    done = next(x for x in (run / "train.log").read_text().splitlines() if "done: 2 steps" in x)
    assert "/warm_start/" in done and "/.build-" not in done and (Path(done.rsplit("results in ", 1)[1]) / "hf_model").is_dir()
