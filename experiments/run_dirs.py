"""Training runs for the experiment drivers, kept out of git, and the committed record of each.

`train` runs ``python -m funcall.train`` into a run directory under ``outputs/experiments/<name>/``
(ignored by git; a finished one is reused, so a driver can resume) and writes the commit it ran at
into the run directory (``commit``: ``git describe --always --dirty``). The run directories are
not committed: `record` turns one into what is (the command with its overrides, the seed, the
commit), with the machine's cache folder written as ``$FUNCALL_CACHE`` and the repository as
``$REPO``, and each driver adds the numbers its tables and plots need and writes them all to
``experiments/<name>/results.json`` (`save`), from which ``--plot-only`` rebuilds results.md and
curves.png without the run directories.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def runs_root(name: str) -> Path:
    """Where the driver ``name`` keeps its run directories: ``outputs/experiments/<name>`` (ignored)."""
    return REPO / "outputs" / "experiments" / name


def head_commit() -> str:
    """The checkout's commit, ``-dirty`` when tracked files differ from it."""
    out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=REPO,
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def portable(text: str) -> str:
    """``text`` with the cache folder written as ``$FUNCALL_CACHE`` and the repository as ``$REPO``."""
    from funcall.models.tiny import cache_root

    for folder, name in ((str(cache_root()), "$FUNCALL_CACHE"), (str(REPO), "$REPO")):
        text = text.replace(folder, name)
    return text


def train(args: list[str], run_dir: Path, quiet: bool = True) -> dict:
    """``python -m funcall.train ARGS hydra.run.dir=RUN_DIR``; its summary.json."""
    if (run_dir / "summary.json").exists():  # finished earlier: reuse
        return json.loads((run_dir / "summary.json").read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "funcall.train", *args, f"hydra.run.dir={run_dir}"]
    print("$", " ".join(cmd[1:]), flush=True)
    commit, t0 = head_commit(), time.time()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL if quiet else None, env={**os.environ})
    print(f"  done in {time.time() - t0:.0f} s", flush=True)
    (run_dir / "commit").write_text(commit + "\n")
    return json.loads((run_dir / "summary.json").read_text())


def rows(run_dir: Path) -> list[dict]:
    """The run's metrics.jsonl, one dict a line."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def record(run_dir: Path, module: str = "funcall.train") -> dict:
    """The command (module and overrides from ``.hydra/overrides.yaml``), seed and commit of a run."""
    from omegaconf import OmegaConf

    overrides = [str(o) for o in OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")]
    seeds = [o.split("=", 1)[1] for o in overrides if o.startswith("seed=")]
    commit = (run_dir / "commit").read_text().strip() if (run_dir / "commit").exists() else "unknown"
    return {"command": portable(" ".join(["python -m", module, *overrides])),
            "seed": int(seeds[0]) if seeds else None, "commit": commit}


def rounded(value, digits: int = 5):
    """``value`` with every float rounded to ``digits`` significant digits (a compact results file)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def save(path: Path, results: dict) -> None:
    """Write a driver's results file (floats to 5 significant digits, one run a block)."""
    path.write_text(json.dumps(rounded(results), indent=1) + "\n")
    print(f"wrote {path.relative_to(REPO)}", flush=True)


def load(path: Path) -> dict:
    """A driver's committed results file; a one-line error if it is missing."""
    if not path.exists():
        sys.exit(f"--plot-only: {path.relative_to(REPO)} does not exist (run the driver without it first)")
    return json.loads(path.read_text())
