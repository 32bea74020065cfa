"""A two-job `-m` multirun of a tiny experiment, and `funcall.compare` on its run dirs."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO


def test_two_job_multirun_then_compare(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "funcall.train", "-m", "+experiment=sft", "trainer.max_steps=4", "seed=1,2",
           "trainer.eval_size=4", "trainer.eval_max_new_tokens=8", "trainer.micro_batch_size=4",
           f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p.parent for p in sweep.rglob("summary.json"))
    assert [j.name for j in jobs] == ["+experiment=sft,seed=1,trainer.eval_max_new_tokens=8,trainer.eval_size=4,"
                                      "trainer.max_steps=4,trainer.micro_batch_size=4",
                                      "+experiment=sft,seed=2,trainer.eval_max_new_tokens=8,trainer.eval_size=4,"
                                      "trainer.max_steps=4,trainer.micro_batch_size=4"]
    for job in jobs:  # one finished W&B run per job, tagged with the job's overrides
        runs = list((job / "wandb").glob("offline-run-*"))
        assert len(runs) == 1
        assert json.loads((job / "summary.json").read_text())["steps"] == 4
    out = tmp_path / "cmp"
    proc = subprocess.run([sys.executable, "-m", "funcall.compare", str(sweep), "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    table = (out / "comparison.md").read_text()
    assert "| run | seed= |" in table  # the only override that differs
    rows = [line for line in table.splitlines() if line.startswith("| +experiment=sft,seed=")]
    assert [row.split(" | ")[1] for row in rows] == ["1", "2"]
    assert "Seeds pooled" in table and "| same settings | 2 |" in table
    assert (out / "comparison.png").stat().st_size > 10_000


def test_compare_refuses_a_folder_without_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "funcall.compare", str(tmp_path), "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0 and "no run directories" in proc.stderr


SWEEPS = {"entropy_coef": {"advantage.coef": "0.0,0.2,0.4,0.8", "seed": "1,2,3"},
          "advantage": {"advantage": "grpo,dr_grpo,entropy_grpo", "seed": "1,2,3"},
          "group_size": {"rollout.num_generations": "4,8,16"},
          "srml_alpha": {"+srml_variant": "ce,alpha_0.3,alpha_0.5,alpha_0.7,learnable"}}


def sweep_cli(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "funcall.train", "--config-dir", "sweeps", "--config-name", name,
                           *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_sweep_configs_compose_with_their_grids(name):
    hydra_cfg = sweep_cli(name, "--cfg", "hydra")
    assert hydra_cfg.returncode == 0, hydra_cfg.stderr[-2000:]
    for key, values in SWEEPS[name].items():
        assert f"{key}: {values}" in hydra_cfg.stdout
    job = sweep_cli(name, "--cfg", "job", "--resolve")
    assert job.returncode == 0, job.stderr[-2000:]
    assert f"group: {name}" in job.stdout


SHORT = {"entropy_coef": ["hydra.sweeper.params.seed=1"], "advantage": ["hydra.sweeper.params.seed=1"],
         "group_size": [], "srml_alpha": []}
RL_SHORT = ["trainer.max_steps=2", "trainer.prompts_per_step=2", "rollout.max_new_tokens=16",
            "trainer.eval_size=4", "trainer.eval_max_new_tokens=8", "trainer.warm_start.steps=10",
            "trainer.warm_start.eval_size=4", "trainer.micro_batch_size=8", "logger=none"]
SFT_SHORT = ["trainer.max_steps=3", "trainer.eval_size=4", "trainer.eval_max_new_tokens=8",
             "trainer.micro_batch_size=4", "logger=none"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_each_sweep_runs_short_on_the_tiny_default(name, tmp_path):
    extra = SFT_SHORT if name == "srml_alpha" else RL_SHORT
    proc = sweep_cli(name, "-m", *SHORT[name], *extra, f"hydra.sweep.dir={tmp_path}", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = {"entropy_coef": 4, "advantage": 3, "group_size": 3, "srml_alpha": 5}[name]
    assert len(list(tmp_path.rglob("summary.json"))) == expected


@pytest.mark.slow
@pytest.mark.parametrize("launcher,world", [("local_2ranks", 2), ("cpu_parallel", 1)])
def test_sweep_launchers(launcher, world, tmp_path):
    """submitit (the Slurm path, here with its local executor): each job's 2 tasks are 2 ranks;
    joblib: jobs in parallel processes, each its own world."""
    proc = subprocess.run(
        [sys.executable, "-m", "funcall.train", "-m", "--config-dir", "sweeps", "--config-name", "srml_alpha",
         f"hydra/launcher={launcher}", "+srml_variant=ce,alpha_0.5", *SFT_SHORT,
         f"hydra.sweep.dir={tmp_path}"], cwd=REPO, capture_output=True, text=True, timeout=1200,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [json.loads(p.read_text()) for p in sorted(tmp_path.rglob("summary.json"))]
    assert len(summaries) == 2 and all(s["world_size"] == world and s["steps"] == 3 for s in summaries)


def test_compare_shows_the_default_a_run_kept(tmp_path):
    """A run without `loss=ce` shows the loss option it ran with (from .hydra), not a dash."""
    from funcall.compare import find_runs, table

    for name, overrides, choice in (("ce", ["loss=ce", "seed=1"], "ce"), ("srml", ["seed=1"], "srml")):
        run = tmp_path / name
        (run / ".hydra").mkdir(parents=True)
        (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 0.5}) + "\n")
        (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        (run / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  runtime:\n    choices:\n      loss: {choice}\n")
        (run / ".hydra" / "config.yaml").write_text("seed: 1\n")
    runs = find_runs([tmp_path / "ce", tmp_path / "srml"])
    rows = table(runs, ["loss"]).splitlines()
    assert rows[0].startswith("| run | loss= |")
    assert rows[2].startswith("| ce | ce |") and rows[3].startswith("| srml | srml |")


def test_the_legend_names_every_run_not_only_those_of_the_first_panel(tmp_path, monkeypatch):
    """Five settings; the first panel (training reward) has two of them: the figure's legend
    used to list those two only. It names all five now, each in one colour on every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from funcall.compare import distinguishing, find_runs, plot

    metrics = {"a": ["loss"], "b": ["reward/mean", "kl"], "c": ["eval/ast_accuracy"], "d": ["reward/mean", "loss"],
               "e": ["kl", "eval/ast_accuracy"]}
    for i, (name, keys) in enumerate(metrics.items()):
        run = tmp_path / name
        (run / ".hydra").mkdir(parents=True)
        (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, **{k: s / (i + 1) for k in keys}}) + "\n"
                                                   for s in (1, 2, 3)))
        (run / ".hydra" / "overrides.yaml").write_text(f"- optim.lr={i + 1}e-5\n- seed=1\n")
    runs = find_runs([tmp_path / name for name in metrics])
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))  # keep the figure to read it
    plot(runs, distinguishing(runs), tmp_path / "comparison.png")
    (fig,) = figures
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert sorted(labels) == [f"lr={i}e-5 (n=1)" for i in range(1, 6)]
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["lr=2e-5 (n=1)", "lr=4e-5 (n=1)"]
    colour = {label: handle.get_color() for label, handle in zip(labels, legend.legend_handles)}
    assert len(set(colour.values())) == 5
    for ax in fig.axes:
        assert all(line.get_color() == colour[line.get_label()] for line in ax.get_lines())
    close(fig)
