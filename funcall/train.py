"""``python -m funcall.train +experiment=NAME [overrides]``: compose the config, build, train.

The same entry point serves one CPU process, ``torchrun``/``deepspeed`` launches on many GPUs,
and ``-m`` multirun sweeps. Which loop runs is the ``trainer`` group's ``_target_`` (SFT or RL);
everything else (model, data, loss, optimizer, DeepSpeed config, logger) is built by that
trainer from its own config group. Before any of that, the trainer checks every value it will
read (`funcall.trainers.checks`) and rank 0 locks the run folder (`funcall.utils.run_lock`), so
a bad value or a second run into the same folder stops at once, with nothing loaded or written.
User errors end as one line on stderr (and in ``train.log``) and exit status 2.
"""
from __future__ import annotations

import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from funcall.envs.bfcl_data import register_bfcl_data_resolver
from funcall.utils.errors import exit_on_user_error
from funcall.utils.hydra_setup import CONF_DIR, quiet_libraries, register_resolvers, share_run_stamp

register_resolvers()
register_bfcl_data_resolver()


def logged_config(cfg: DictConfig) -> dict:
    """The resolved config plus ``choices``: the option chosen in every config group."""
    data = OmegaConf.to_container(cfg, resolve=True)
    try:
        choices = HydraConfig.get().runtime.choices
        data["choices"] = {k: v for k, v in choices.items() if not k.startswith("hydra") and v is not None}
    except ValueError:  # composed outside @hydra.main (tests using the compose API)
        data["choices"] = {}
    return data


def label_sweep_job(wandb) -> None:
    """In a ``-m`` sweep: W&B group = the sweep (unless set), tags += this job's overrides."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    wandb.group = wandb.group or Path(hydra_cfg.sweep.dir).name
    wandb.tags = list(wandb.tags) + [o.lstrip("+~") for o in hydra_cfg.overrides.task][:64]


@exit_on_user_error
def run(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    from funcall.dist import init_distributed, shutdown
    from funcall.logging.console import log
    from funcall.logging.run_log import RunLog
    from funcall.trainers.run_context import RunContext
    from funcall.trainers.settings import Trainer
    from funcall.utils.instantiate import instantiate
    from funcall.utils.run_lock import run_dir_lock
    from funcall.utils.seed import seed_everything

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    trainer: Trainer = instantiate(cfg.trainer, _key="trainer")
    trainer.check(cfg, int(os.environ.get("WORLD_SIZE", "1")))  # before anything is loaded or written
    quiet_libraries()
    dist = init_distributed()
    run_dir = Path(run_dir or HydraConfig.get().runtime.output_dir)
    with run_dir_lock(run_dir, dist):
        if dist.is_main:
            log.info(f"run folder: {run_dir}")
        seed_everything(int(cfg.seed) + dist.rank)
        wandb = instantiate(cfg.logger, _key="logger") if dist.is_main else None
        if wandb is not None:
            label_sweep_job(wandb)
        ctx = RunContext(run_dir=run_dir, dist=dist, log=RunLog(run_dir, dist.is_main, wandb), config=logged_config(cfg))
        try:
            result = trainer.fit(cfg, ctx)
        finally:
            if ctx.progress is not None:
                ctx.progress.close()  # so an error message starts on a line of its own
    shutdown()
    return result


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    share_run_stamp()
    main()
