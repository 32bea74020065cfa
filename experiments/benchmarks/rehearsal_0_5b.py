"""A rehearsal at real model size on the CPU: a Qwen2.5-0.5B-shaped model through every phase of funcall.

    .venv/bin/python experiments/benchmarks/rehearsal_0_5b.py [--work DIR] [--quick] [--reuse]

`model=qwen2_5_0_5b_random` (hidden 896, 24 layers, 14 / 2 KV heads, vocab 151,936: 494M random
parameters, the real Qwen tokenizer), 2 ranks, ZeRO-3 (gloo, one OpenMP thread per rank):
  1. ``sft``: SFT, 2 steps, micro-batch 1; its HF export is loaded back with transformers and its
     parameters counted;
  2. ``grpo_vllm``: entropy-guided GRPO from that export with colocated vLLM (bf16 weights, a small
     KV cache; the weights gathered from the ZeRO-3 shards and pushed in 128 MB chunks), 2 prompts x
     2 completions of 512 tokens, 1 step, its checkpoint and export;
  3. ``grpo_a``: the same with the HF engine (ZeRO-3's weights gathered for generation), 2 steps,
     saving nothing; ``grpo_b``: the same saving every step, SIGKILLed (the whole torchrun process
     group) as soon as step 1's checkpoint is complete (its ``manifest.json`` exists), then
     ``grpo_b_resume``: ``trainer.resume=true`` in the same folder. Its step 2 must equal ``grpo_a``'s.
     Two ranks with vLLM do not fit a second step in 24 GB: after step 1 the Adam moments and the
     fp32 gradient partition (3 GB a rank) stay, and step 2's update was OOM-killed at 12 GB a rank
     four times (docs/rehearsal.md); without the vLLM engine (1.5-2 GB a rank) it fits.
For every rank and phase it prints the measured peak (summary.json's ``memory_peak_gb_per_rank``:
peak RSS, the whole process) next to ``funcall.plan``'s prediction when that module exists ("n/a"
otherwise; planned / measured beside it) and next to the ZeRO-3 model-state arithmetic (20 B x
parameters / ranks: fp32 parameters, master copy, gradients and two Adam moments, sharded), with
``params_per_rank`` x 4 B beside it. ``--from-json --replan`` plans the recorded runs again.
Everything measured goes to rehearsal_0_5b.json (``--json``); the printout is committed as
rehearsal_0_5b.txt. ``--quick`` (the slow test) makes completions 64 tokens long.

How it differs from the obvious (run the four commands by hand): each run takes the machine's
heavy-run lock (``/tmp/funcall-heavy.lock``, fcntl) so it queues behind other multi-GB jobs
instead of swapping beside them; runs start in their own process group so that the kill reaches
every rank at once, as a machine failure would; the runs get a fixed glibc mmap threshold
(``MALLOC`` below: without it the heap held 5 GB per rank of freed tensors); ``--reuse`` keeps a run folder whose
summary.json exists (reprinting without retraining), and ``--from-json`` only reprints.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORLD = 2
GB = 1024 ** 3
LOCK = Path("/tmp/funcall-heavy.lock")
# random weights earn no reward, so loss and kl are 0 at both steps; the entropy of the sampled answer
# tokens and vLLM's distance from the trainer's log-probs are what tell whether the same tokens were sampled
RESUME_KEYS = ("loss", "reward/mean", "kl", "entropy/answer", "logprob/gen_vs_train_abs", "grad_norm",
               "completion/length_mean")
PHASES = ("setup", "step", "rollout", "logprob", "update", "eval", "checkpoint", "export")
COMMON = ["model=qwen2_5_0_5b_random", "deepspeed=zero3", "logger=none", "trainer.eval_size=2",
          "trainer.eval_max_new_tokens=16", "deepspeed.zero_optimization.stage3_max_live_parameters=100000000"]
# glibc's dynamic mmap threshold puts the many 1-32 MB tensors (layer weights gathered by ZeRO-3,
# activations) on the heap, which fragments and is never given back: 5.3 of a rank's 10.4 GB were
# [heap] when the first GRPO attempt was OOM-killed in its first rollout (docs/rehearsal.md). A fixed
# threshold maps every tensor of 1 MB or more on its own and unmaps it when freed.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1024 * 1024)}


def sft_overrides() -> list[str]:
    return ["+experiment=sft", *COMMON, "trainer.max_steps=2", "trainer.micro_batch_size=1"]


def grpo_overrides(sft_export: Path, max_new_tokens: int, engine: str) -> list[str]:
    """Entropy-guided GRPO from the SFT export, 2 prompts x 2 completions of ``max_new_tokens`` a step,
    with ``engine`` (vllm | hf). The output layer works on 256 positions at a time (155 MB of fp32
    logits, not 622). Without the KL term (``loss.kl_coef=0``), so without a reference model: with it
    the update peaked at 11.4 GB a rank in step 1 already; the entropy bonus is in the advantage, not
    the KL, and the sharded reference is exercised by the 2-rank tests on the tiny model. vLLM
    computes in bf16 (1.3 GB a rank instead of 2.5: its CPU build unties the output layer) with a
    0.25 GiB KV cache, a 2k context and no compilation."""
    common = ["+experiment=entropy_grpo", *COMMON, f"model.path={sft_export}", "trainer.warm_start=null",
              "loss.kl_coef=0", "trainer.logit_chunk=256", f"rollout.max_new_tokens={max_new_tokens}",
              "rollout.num_generations=2", "trainer.prompts_per_step=2", "trainer.micro_batch_size=1",
              "trainer.eval_at_start=false", "trainer.save_every=1"]
    if engine == "hf":
        return [*common, "rollout=hf", "trainer.max_steps=2"]
    return [*common, "rollout=vllm", "rollout.engine.dtype=bfloat16", "rollout.engine.kv_cache_memory_gib=0.25",
            "rollout.engine.enforce_eager=true", "rollout.engine.sync_chunk_mb=128",
            "rollout.engine.max_model_len=2048", "trainer.max_steps=1"]


@contextmanager
def heavy_lock():
    """Queue behind other heavy runs on this machine (held for one run)."""
    with open(LOCK, "a+") as handle:
        t0 = time.time()
        fcntl.flock(handle, fcntl.LOCK_EX)
        waited = time.time() - t0
        if waited > 1:
            print(f"  (waited {waited:.0f} s for {LOCK})", flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def launch(overrides: list[str], run_dir: Path, log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
           "-m", "funcall.train", *overrides, f"hydra.run.dir={run_dir}"]
    env = {**os.environ, **MALLOC, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "FUNCALL_CACHE": os.environ.get("FUNCALL_CACHE", str(Path.home() / ".cache" / "funcall"))}
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def run(name: str, overrides: list[str], work: Path, kill_after_step: int | None = None) -> dict:
    """One training run in ``work/name`` under the lock; with ``kill_after_step``, SIGKILL its process
    group once that step's checkpoint is complete. Returns what the JSON records of it."""
    run_dir = work / name.removesuffix("_resume")
    print(f"{name}: torchrun x{WORLD} -m funcall.train {' '.join(overrides)}", flush=True)
    with heavy_lock():
        t0 = time.time()
        proc = launch(overrides, run_dir, work / f"{name}.log")
        killed_at = None
        while proc.poll() is None:
            if kill_after_step is not None and checkpoint_complete(run_dir, kill_after_step):
                kill_tree(proc.pid)
                killed_at = time.time() - t0
                proc.wait()
                break
            time.sleep(0.5)
        wall = time.time() - t0
    if proc.returncode != 0 and killed_at is None:
        tail = (work / f"{name}.log").read_text()[-3000:]
        raise SystemExit(f"{name} exited {proc.returncode}; the log's end:\n{tail}")
    print(f"  {'killed' if killed_at else 'done'} after {wall:.0f} s", flush=True)
    return {"overrides": overrides, "run_dir": str(run_dir), "wall_s": wall, "returncode": proc.returncode,
            "killed_at_s": killed_at}


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc: each process's parent is field 4 of its stat)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(pid: int, timeout_s: float = 120) -> None:
    """SIGKILL torchrun and every rank, as a machine failure would, and wait until all are gone.
    Killing torchrun's process group is not enough: its elastic agent starts each rank in a session
    of its own, so the ranks outlived the group kill, and funcall's run lock then (rightly) refused
    the resume: "hydra.run.dir=... is in use by another run (pid ...)" (the first two tries)."""
    victims = [pid, *descendants(pid)]
    for victim in victims:
        with suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    deadline = time.time() + timeout_s
    while time.time() < deadline and any(running(v) for v in victims):
        time.sleep(0.5)


def running(pid: int) -> bool:
    """The process exists and is not a zombie (which holds no memory and no lock)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def tag_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:08d}"


def checkpoint_complete(run_dir: Path, step: int) -> bool:
    """funcall writes a tag's manifest.json last, atomically (funcall/trainers/checkpoint.py)."""
    return (tag_dir(run_dir, step) / "manifest.json").exists()


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def read_results(run_dir: Path) -> dict:
    """The summary's peaks and parameter counts and every metrics row of a finished run."""
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "time/step_s" in r]
    return {"memory_peak_gb_per_rank": summary["memory_peak_gb_per_rank"], "params_per_rank": summary["params_per_rank"],
            "steps": summary["steps"], "train_s": summary["train_s"], "rows": steps,
            "time": {k: [r[k] for r in steps if k in r] for k in ("time/step_s", "time/rollout_s", "time/logprob_s",
                                                                  "time/update_s")}}


def export_params(hf_dir: Path) -> int:
    """Load the HF export with transformers (as a user would) and count its parameters."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32)
    return sum(p.numel() for p in model.parameters())


def planned_phases(overrides: list[str]) -> dict[str, float] | None:
    """`funcall.plan`'s GB per rank and phase for these overrides, or None where it does not exist yet.
    A relative ``model.path`` is the repository's (the runs start there)."""
    try:
        import funcall.plan as plan
    except ImportError:
        return None
    key = "model.path="
    cfg = plan.compose([f"{key}{REPO / o[len(key):]}" if o.startswith(key) else o for o in overrides])
    return dict(plan.plan_run(cfg, world_size=WORLD, device="cpu", gpu_gb=None).phases)


def rehearse(work: Path, max_new_tokens: int, reuse: bool) -> dict:
    """The four runs (module docstring) and the checks on their outputs."""
    work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict] = {}

    def once(name: str, overrides: list[str], **kw) -> None:
        done = work / name.removesuffix("_resume") / "summary.json"
        if reuse and done.exists() and name != "grpo_b":
            runs[name] = {"overrides": overrides, "run_dir": str(done.parent), "reused": True}
        else:
            runs[name] = run(name, overrides, work, **kw)

    once("sft", sft_overrides())
    export = work / "sft" / "hf_model"
    once("grpo_vllm", grpo_overrides(export, max_new_tokens, "vllm"))
    grpo = grpo_overrides(export, max_new_tokens, "hf")
    once("grpo_a", [*grpo, "trainer.save_every=0"])
    if not (reuse and (work / "grpo_b" / "summary.json").exists()):
        runs["grpo_b"] = run("grpo_b", grpo, work, kill_after_step=1)
        runs["grpo_b"]["checkpoint_bytes"] = folder_bytes(tag_dir(work / "grpo_b", 1))
    once("grpo_b_resume", [*grpo, "trainer.resume=true"])
    for name in ("sft", "grpo_vllm", "grpo_a", "grpo_b_resume"):
        runs[name].update(read_results(Path(runs[name]["run_dir"])))
        runs[name]["planned_gb"] = planned_phases(runs[name]["overrides"])
    runs["sft"]["export_params"] = export_params(export)
    runs["grpo_vllm"]["checkpoint_bytes"] = folder_bytes(tag_dir(work / "grpo_vllm", 1))
    runs["grpo_b_resume"]["checkpoint_bytes"] = folder_bytes(tag_dir(work / "grpo_b", 2))
    return {"runs": runs, "resume": compare_resume(runs["grpo_a"]["rows"], runs["grpo_b_resume"]["rows"]),
            "max_new_tokens": max_new_tokens, "machine": machine()}


def compare_resume(uninterrupted: list[dict], resumed: list[dict]) -> dict:
    """Step 2 of the uninterrupted run next to step 2 of the resumed one, key by key."""
    a = next(r for r in uninterrupted if r["step"] == 2)
    b = next(r for r in resumed if r["step"] == 2)
    keys = [k for k in RESUME_KEYS if k in a and k in b]
    return {"keys": {k: [a[k], b[k]] for k in keys}, "equal": all(a[k] == b[k] for k in keys),
            "resumed_steps": [r["step"] for r in resumed]}


def portable(value):
    """``value`` with this checkout's absolute path made relative (runs start in the repository), so
    the committed JSON names no machine's folders."""
    if isinstance(value, str):
        return value.replace(f"{REPO}/", "")
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    return value


def machine() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    mem = next((int(line.split()[1]) / 1024 ** 2 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0.0)
    return {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "ram_gb": round(mem, 1),
            "processor": platform.processor() or platform.machine(), "commit": commit.strip(),
            "load_avg": os.getloadavg()}


def report(results: dict) -> str:
    """The printout: the runs, the resume check, the export, then the memory table."""
    runs, m = results["runs"], results["machine"]
    lines = [f"Rehearsal at Qwen2.5-0.5B size: {WORLD} CPU ranks, ZeRO-3, completions of {results['max_new_tokens']} "
             f"tokens; {m['date']}, commit {m['commit']}, {m['cpus']} CPUs ({m['processor']}), {m['ram_gb']} GB RAM, "
             f"load average {m['load_avg'][0]:.2f}", ""]
    if results.get("replanned_at"):
        lines += [f"(the planned column is funcall.plan at commit {results['replanned_at']}, the runs' numbers are "
                  f"commit {m['commit']}'s)", ""]
    for name, r in runs.items():
        wall = "reused" if r.get("reused") else f"{r['wall_s']:.0f} s" + (" (SIGKILL after step 1's checkpoint)"
                                                                          if r.get("killed_at_s") else "")
        lines.append(f"{name:<14} wall {wall}")
        for key, values in r.get("time", {}).items():
            lines.append(f"{'':<14} {key:<15} " + "  ".join(f"{v:7.1f}" for v in values))
        if "checkpoint_bytes" in r:
            lines.append(f"{'':<14} checkpoint on disk {r['checkpoint_bytes'] / GB:.2f} GB")
    res = results["resume"]
    lines += ["", f"resume: step 2 uninterrupted vs resumed ({'EQUAL' if res['equal'] else 'DIFFERENT'}; resumed run "
                  f"logged steps {res['resumed_steps']})"]
    lines += [f"  {k:<24} {a!r:>24} {b!r:>24}" for k, (a, b) in res["keys"].items()]
    lines += ["", f"HF export loads with transformers: {runs['sft']['export_params']:,} parameters", ""]
    return "\n".join(lines + memory_table(runs))


def memory_table(runs: dict) -> list[str]:
    """Per run, rank and phase: measured peak RSS, the plan's number, and the ZeRO-3 arithmetic."""
    total = runs["sft"]["export_params"]
    model_state = 20 * total / WORLD / GB
    lines = [f"Peak memory per rank and phase, GB. measured: peak RSS of the whole rank (VmHWM, reset per phase); "
             f"planned: funcall.plan.plan_run; pl/meas: planned / measured; zero3: 20 B x {total:,} / {WORLD} = {model_state:.2f} (fp32 params, "
             f"master copy, grads, 2 Adam moments, sharded); held x4: params_per_rank x 4 B",
             f"{'run':<14} {'rank':>4} {'phase':<11} {'measured':>9} {'planned':>8} {'pl/meas':>8} {'zero3':>6} "
             f"{'held x4':>8}"]
    for name in ("sft", "grpo_vllm", "grpo_a", "grpo_b_resume"):
        r = runs[name]
        plan = r.get("planned_gb")
        for rank, peaks in enumerate(r["memory_peak_gb_per_rank"]):
            held = r["params_per_rank"][rank] * 4 / GB
            for phase in [p for p in PHASES if p in peaks]:
                planned = plan.get(phase) if plan else None
                ratio = f"{planned / peaks[phase]:.2f}" if planned else "n/a"
                lines.append(f"{name:<14} {rank:>4} {phase:<11} {peaks[phase]:9.2f} "
                             f"{'n/a' if planned is None else f'{planned:.2f}':>8} {ratio:>8} {model_state:6.2f} "
                             f"{held:8.2f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "outputs" / "rehearsal_0_5b",
                        help="folder for the run folders and their logs")
    parser.add_argument("--json", type=Path, default=HERE / "rehearsal_0_5b.json", help="where the numbers go")
    parser.add_argument("--quick", action="store_true", help="completions of 64 tokens, not 512 (the slow test)")
    parser.add_argument("--reuse", action="store_true", help="keep run folders that already have a summary.json")
    parser.add_argument("--from-json", action="store_true", help="reprint the report of --json; run nothing")
    parser.add_argument("--replan", action="store_true",
                        help="with --from-json: plan every run again with today's funcall.plan and rewrite --json")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.json.read_text())
        if "runs" not in results:
            raise SystemExit(f"--json {args.json}: no complete rehearsal recorded ({results.get('status', 'no status')})")
        runs = results["runs"]
        results["resume"] = compare_resume(runs["grpo_a"]["rows"], runs["grpo_b_resume"]["rows"])
        if args.replan:
            for r in runs.values():
                if "memory_peak_gb_per_rank" in r:
                    r["planned_gb"] = planned_phases(r["overrides"])
            results["replanned_at"] = machine()["commit"]
            args.json.write_text(json.dumps(portable(results), indent=1) + "\n")
    else:
        results = rehearse(args.work, 64 if args.quick else 512, args.reuse)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(portable(results), indent=1) + "\n")
    print(report(results))


if __name__ == "__main__":
    main()
