"""Hydra set-up that must happen before ``@hydra.main`` runs: resolvers and a shared run dir.

Under torchrun every rank runs Hydra and would resolve ``${now:...}`` on its own clock, so two
ranks can land in two run directories a second apart. `share_run_stamp` starts the process
group early, lets rank 0 pick the timestamp and broadcasts it in ``FUNCALL_RUN_STAMP``, which
``conf/train.yaml`` uses for ``hydra.run.dir``. `rank0_only` resolves to its argument on rank 0
and to null elsewhere; the config uses it so that only rank 0 writes Hydra's ``.hydra/`` folder
and log file.

`CONF_DIR` is the config tree every app composes: ``funcall/conf``, shipped inside the package
(wheels and non-editable installs carry it as package data; the repository's top-level ``conf``
is a symlink to it). Users add their own groups with ``--config-dir`` or ``hydra.searchpath``.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def register_resolvers() -> None:
    resolvers = {
        "funcall.rank0_only": lambda value: value if int(os.environ.get("RANK", "0")) == 0 else None,
        "funcall.rank0_log": lambda path: path if int(os.environ.get("RANK", "0")) == 0 else os.devnull,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


def share_run_stamp() -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "FUNCALL_RUN_STAMP" in os.environ:
        return
    from funcall.dist import broadcast_object, init_distributed

    init_distributed()
    os.environ["FUNCALL_RUN_STAMP"] = broadcast_object(datetime.now().strftime("%Y-%m-%d/%H-%M-%S"))


def quiet_libraries() -> None:
    """Keep the console for our progress bar: no per-file load bars, no compiler chatter."""
    import logging

    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    for name in ("DeepSpeed", "deepspeed", "compilers", "compilers.C.base", "torch.distributed"):
        logging.getLogger(name).setLevel(logging.WARNING)
