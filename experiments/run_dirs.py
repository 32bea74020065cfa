"""Training runs for the experiment programs, and their run directories made fit to commit.

`train` runs ``python -m funcall.train`` into a run directory (reusing one that finished, so a
driver can resume) and then `portable`: Hydra's own ``.hydra/hydra.yaml`` (absolute paths of the
machine, the launcher, the environment) is removed, ``config.yaml``/``overrides.yaml`` stay, and
the machine's cache folder is written as ``$FUNCALL_CACHE`` and the repository's folder as ``$REPO``
wherever a file names them.
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


def portable(run_dir: Path) -> None:
    """Drop ``.hydra/hydra.yaml``; write the cache folder as ``$FUNCALL_CACHE`` and the repository
    as ``$REPO`` in the text files."""
    from funcall.models.tiny import cache_root

    (run_dir / ".hydra" / "hydra.yaml").unlink(missing_ok=True)
    names = {str(cache_root()): "$FUNCALL_CACHE", str(REPO): "$REPO"}
    for path in [run_dir / "summary.json", run_dir / "bfcl_scores.json", *(run_dir / ".hydra").glob("*.yaml")]:
        if not path.exists():
            continue
        text = path.read_text()
        for folder, name in names.items():
            text = text.replace(folder, name)
        path.write_text(text)


def train(args: list[str], run_dir: Path, quiet: bool = True) -> dict:
    """``python -m funcall.train ARGS hydra.run.dir=RUN_DIR``; its summary.json."""
    if (run_dir / "summary.json").exists():  # finished earlier: reuse
        return json.loads((run_dir / "summary.json").read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "funcall.train", *args, f"hydra.run.dir={run_dir}"]
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.time()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL if quiet else None, env={**os.environ})
    print(f"  done in {time.time() - t0:.0f} s", flush=True)
    portable(run_dir)
    return json.loads((run_dir / "summary.json").read_text())
