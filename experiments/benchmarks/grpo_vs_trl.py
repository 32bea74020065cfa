"""RL step throughput of funcall's GRPO trainer against TRL's GRPOTrainer, side by side.

    .venv/bin/python experiments/benchmarks/grpo_vs_trl.py [--steps 8] [--warmup 2]

The same work on both sides: the embedded tiny Qwen2 (`funcall.models.tiny`, the cached model
folder both load), funcall's synthetic task chat-templated by funcall (TRL gets the same text, in
funcall's step order), 4 prompts x 8 generations x up to 64 new tokens, temperature 1.0, top-p 1,
KL to the reference (k3, coefficient 1e-3, so both run a reference model), token-mean loss
(funcall ``token_mean``, TRL ``loss_type="dapo"``), AdamW lr 3e-4 constant, grad clipping 1.0,
one optimizer step per generation batch, funcall's AST-match reward on both sides, fp32, one
process each, CPU, OMP_NUM_THREADS=1 each.
  ours  `python -m funcall.train +experiment=grpo` with those overrides (DeepSpeed ZeRO-0), run by
        this file's ``--worker`` mode, which wraps `RLRun.step` in a barrier
  TRL   experiments/benchmarks/grpo_trl_side.py in its own venv (~/.cache/funcall/trl-venv, created
        on first use with trl 1.16 and torch pinned to the local CPU 2.13.0 build)

How it differs from timing two training runs one after the other: both trainers run at once as
long-lived processes, but only one works at a time; the driver lets them take steps in turn
(ABBA order), so a change in machine load (the cores are shared) hits both sides alike. Each
side times its own steps (generation, reward, log-probs, update, optimizer), model loading and
the first ``--warmup`` steps excluded. Throughput is (prompt + completion tokens of all rollouts)
per second, so a side whose completions stop earlier at EOS does not look faster than it is.
The report goes to stdout and to experiments/benchmarks/grpo_vs_trl.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

PROMPTS, GENERATIONS, NEW_TOKENS, KL, LR, TEMPERATURE, SEED = 4, 8, 64, 1e-3, 3e-4, 1.0, 0
OURS_OVERRIDES = [
    "+experiment=grpo", "trainer.warm_start=null", f"trainer.prompts_per_step={PROMPTS}",
    f"rollout.num_generations={GENERATIONS}", f"rollout.max_new_tokens={NEW_TOKENS}", f"rollout.temperature={TEMPERATURE}",
    "rollout.top_p=1.0", f"loss.kl_coef={KL}", "loss.aggregation=token_mean", f"optim.optimizer.lr={LR}",
    "optim.scheduler.decay=constant", "optim.scheduler.warmup_ratio=0.0", "optim.max_grad_norm=1.0",
    "trainer.eval_at_start=false", "trainer.eval_size=0", "trainer.export=false", "trainer.table_every=0",
    "trainer.ppo_epochs=1", "trainer.mini_batches=1", "trainer.precision=fp32", "deepspeed=zero0",
    "logger=none", f"seed={SEED}",
]


def ours_worker(extra: list[str]) -> None:
    """Run funcall.train with RLRun.step behind the stdin barrier (see grpo_trl_side.py)."""
    import funcall.train
    from funcall.trainers.rl_run import RLRun

    original = RLRun.step

    def step(self, *args, **kwargs):
        print("@@ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            sys.stdout.flush()
            os._exit(0)
        started = time.perf_counter()
        row, ids = original(self, *args, **kwargs)
        seconds = time.perf_counter() - started
        n = PROMPTS * GENERATIONS
        times = {k: v for k, v in row.items() if k.startswith("time/")}
        print("@@step " + json.dumps({"seconds": seconds, "prompt_tokens": row["tokens/prompt_mean"] * n,
                                      "completion_tokens": row["tokens/completion_mean"] * n, **times}), flush=True)
        return row, ids

    RLRun.step = step
    sys.argv = ["funcall.train", *extra]
    funcall.train.main()


def step_prompts(count: int) -> tuple[str, list[dict], str]:
    """The prompts funcall's trainer takes at steps 0..count-1 (4 each), with text for TRL."""
    from hydra import compose, initialize_config_dir

    from funcall.data.sampler import GlobalSampler
    from funcall.models.load import load_tokenizer
    from funcall.train import CONF_DIR
    from funcall.utils.instantiate import instantiate

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[o for o in OURS_OVERRIDES if not o.startswith("logger")])
    source = instantiate(cfg.model, _key="model")
    model_dir = source.resolved_path()
    tok = load_tokenizer(model_dir)
    task = instantiate(cfg.data.source, _key="data.source")
    style = instantiate(cfg.data.prompt, _key="data.prompt")
    train = task.train()
    sampler = GlobalSampler(len(train), seed=SEED)
    rows = []
    for step in range(count):
        for i in sampler.micro_batch(step, 0, 0, 1, PROMPTS, 1):
            example = train[i]
            ids = style.prompt_ids(tok, example)
            text = tok.decode(ids)
            assert tok(text, add_special_tokens=False)["input_ids"] == ids, "prompt text does not re-tokenise to the same ids"
            rows.append({"text": text, "n_tokens": len(ids), "tools": example.tools, "possible_answer": example.ground_truth(),
                         "category": example.category})
    return model_dir, rows, style.answer_format


class Worker:
    def __init__(self, name: str, command: list, log: Path):
        self.name, self.log = name, open(log, "w")  # noqa: SIM115 - lives as long as the worker
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
               "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, env=env)
        self.steps: list[dict] = []

    def expect(self, marker: str) -> str:
        for line in self.proc.stdout:
            if line.startswith(marker):
                return line[len(marker):].strip()
        raise RuntimeError(f"{self.name} worker ended before {marker!r}; see {self.log.name}")

    def step(self) -> dict:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        result = json.loads(self.expect("@@step"))
        self.expect("@@ready")  # idle again (its logging done) before the other side starts
        self.steps.append(result)
        return result

    def stop(self) -> None:
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=120)
        self.log.close()


def summarise(steps: list[dict]) -> dict:
    seconds = [s["seconds"] for s in steps]
    tokens = [s["prompt_tokens"] + s["completion_tokens"] for s in steps]
    rollouts = PROMPTS * GENERATIONS
    return {"median_s": statistics.median(seconds), "mean_s": statistics.mean(seconds), "best_s": min(seconds),
            "tokens_per_s": sum(tokens) / sum(seconds), "completion_mean": statistics.mean(s["completion_tokens"] for s in steps) / rollouts,
            "prompt_mean": statistics.mean(s["prompt_tokens"] for s in steps) / rollouts, "all": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="measured steps per side")
    parser.add_argument("--warmup", type=int, default=2, help="steps per side run first and not counted")
    parser.add_argument("--report", type=Path, default=Path(__file__).with_suffix(".txt"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args()
    if args.worker:
        return ours_worker(extra)
    from grpo_trl_side import ensure_venv

    trl_python = ensure_venv()
    total = args.warmup + args.steps
    model_dir, prompts, answer_format = step_prompts(total + 1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = {"model": model_dir, "prompts": prompts, "answer_format": answer_format, "steps": total + 1, "seed": SEED,
                "rollouts": PROMPTS * GENERATIONS, "num_generations": GENERATIONS, "max_new_tokens": NEW_TOKENS,
                "temperature": TEMPERATURE, "kl_coef": KL, "lr": LR, "max_grad_norm": 1.0, "output_dir": str(tmp / "trl")}
        (tmp / "spec.json").write_text(json.dumps(spec))
        ours = Worker("ours", [sys.executable, __file__, "--worker", *OURS_OVERRIDES, f"trainer.max_steps={total + 1}",
                               f"hydra.run.dir={tmp / 'ours'}"], tmp / "ours.log")
        trl = Worker("trl", [trl_python, Path(__file__).with_name("grpo_trl_side.py"), tmp / "spec.json"], tmp / "trl.log")
        try:
            for worker in (ours, trl):
                worker.expect("@@ready")
            load_before = os.getloadavg()
            started = time.time()
            for k in range(total):  # ABBA: ours, trl, trl, ours, ...
                for worker in ((ours, trl) if k % 2 == 0 else (trl, ours)):
                    worker.step()
            wall = time.time() - started
            load_after = os.getloadavg()
        except Exception:
            for worker in (ours, trl):
                worker.proc.kill()
                worker.log.flush()
                print(f"--- {worker.name} log ---\n" + Path(worker.log.name).read_text()[-3000:], file=sys.stderr)
            raise
        for worker in (ours, trl):
            worker.stop()
    measured = {w.name: summarise(w.steps[args.warmup:]) for w in (ours, trl)}
    o, t = measured["ours"], measured["trl"]
    phases = {k: statistics.median(s[k] for s in ours.steps[args.warmup:]) for k in ours.steps[0] if k.startswith("time/")}
    lines = [
        f"$ .venv/bin/python experiments/benchmarks/grpo_vs_trl.py --steps {args.steps} --warmup {args.warmup}",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S')}  python: {platform.python_version()}  cores: {os.cpu_count()}  "
        f"OMP_NUM_THREADS=1 per side, one process per side, CPU, fp32",
        f"load average (1 min) before/after the measured steps: {load_before[0]:.2f} / {load_after[0]:.2f} "
        f"(other processes share the cores); measured wall {wall:.0f} s",
        f"work per step: {PROMPTS} prompts x {GENERATIONS} generations x <= {NEW_TOKENS} new tokens, T={TEMPERATURE}, "
        f"KL {KL} (reference model on), token-mean loss, one optimizer step; model {Path(model_dir).name}",
        f"steps: {args.warmup} warm-up + {args.steps} measured per side, interleaved ABBA",
        "",
        f"{'side':28s} {'median s/step':>13s} {'mean s':>7s} {'best s':>7s} {'tokens/s':>9s} {'prompt tok':>10s} {'compl. tok':>10s}",
    ]
    for name, label in (("trl", "TRL GRPOTrainer 1.16"), ("ours", "funcall RLTrainer")):
        m = measured[name]
        lines.append(f"{label:28s} {m['median_s']:13.3f} {m['mean_s']:7.3f} {m['best_s']:7.3f} {m['tokens_per_s']:9.0f} "
                     f"{m['prompt_mean']:10.1f} {m['completion_mean']:10.1f}")
    lines += [
        "(prompt tok / compl. tok: mean tokens per rollout; tokens/s = all rollouts' prompt + completion tokens / step time)",
        "",
        f"ratio ours / TRL, tokens per second: {o['tokens_per_s'] / t['tokens_per_s']:.2f}",
        f"ratio TRL / ours, median seconds per step: {t['median_s'] / o['median_s']:.2f}",
        "ours, median seconds per phase: " + ", ".join(f"{k[5:]} {v:.3f}" for k, v in phases.items() if k != "time/step_s"),
        "all measured steps (s): ours " + " ".join(f"{s:.2f}" for s in o["all"]) + " | TRL " + " ".join(f"{s:.2f}" for s in t["all"]),
    ]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    args.report.write_text(report)


if __name__ == "__main__":
    main()
