"""The SFT warm start RL begins from when the model is the raw tiny default.

RL cannot teach a randomly initialised model to call functions (its reward would be zero
everywhere), so ``trainer.warm_start`` first fine-tunes the tiny model on the same data and
prompt format with plain CE for a fixed number of steps, then RL starts from that checkpoint.
The result is cached under ``$FUNCALL_CACHE/warm_start/<hash>`` (the hash covers the tiny spec,
the data and prompt settings and the warm-start settings, not the RL seed, so every seed of a
sweep starts from the same policy) with its own ``metrics.jsonl`` and ``summary.json``. The run
uses the current process group: under torchrun all ranks train it together, with the global
batch held fixed so the cached checkpoint does not depend on the number of ranks. With a
``model.path`` of your own, there is no warm start: RL starts from your model.

``trainer.warm_start.data`` overrides keys of the data source for the SFT run only. The tiny
RL presets use it to give the warm start a call-heavy mix (few no-call examples), as SFT data
usually is (xLAM-60k has no no-call examples at all), while RL's prompts and the held-out set
keep the full mix: see experiments/funrl/README.md for what this does to the comparison.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from funcall.logging.run_log import RunLog
from funcall.models.tiny import cache_root
from funcall.trainers.distributed import barrier, broadcast_object

RECIPE_VERSION = 1


def warm_start_key(cfg: DictConfig) -> str:
    """Hash of what the warm start's SFT run sees: its data as that run resolves it (the data seed
    is the warm start's own, ``trainer.warm_start.data`` applied), not the RL seed or RL-only keys."""
    sft_data = sft_config(cfg, world_size=1).data
    parts = {"tiny": OmegaConf.to_container(cfg.model.tiny, resolve=True),
             "data": OmegaConf.to_container(sft_data, resolve=True),
             "warm_start": OmegaConf.to_container(cfg.trainer.warm_start, resolve=True), "v": RECIPE_VERSION}
    parts["data"].get("source", {}).pop("eval_size", None)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def sft_config(cfg: DictConfig, world_size: int) -> DictConfig:
    """The SFT run's config: the RL run's model, data and DeepSpeed settings, CE, AdamW."""
    ws = cfg.trainer.warm_start
    if ws.batch_size % world_size:
        raise ValueError(f"trainer.warm_start.batch_size={ws.batch_size} must divide by the {world_size} ranks")
    base = OmegaConf.to_container(cfg, resolve=False)
    if ws.get("data"):  # the SFT data may differ from the RL prompts (e.g. fewer no-call examples)
        base["data"]["source"].update(OmegaConf.to_container(ws.data, resolve=True))
    base.update(
        seed=int(ws.seed),
        loss={"_target_": "funcall.losses.ce.CrossEntropyLoss"},
        optim={"optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": float(ws.lr),
                             "betas": [0.9, 0.95], "weight_decay": 0.0},
               "scheduler": {"_target_": "funcall.optim.warmup_schedule", "_partial_": True,
                             "warmup_ratio": 0.05, "decay": "cosine", "min_lr_ratio": 0.1},
               "max_grad_norm": 1.0},
        trainer={"_target_": "funcall.trainers.sft.SFTTrainer", "max_steps": int(ws.steps),
                 "micro_batch_size": int(ws.batch_size) // world_size, "grad_accum": 1,
                 "max_length": int(cfg.trainer.max_length), "eval_size": int(ws.eval_size),
                 "eval_max_new_tokens": int(cfg.trainer.eval_max_new_tokens), "precision": cfg.trainer.precision,
                 "export": True, "save_every": 0, "resume": False},
    )
    base.pop("hydra", None)
    return OmegaConf.create(base)


def ensure_warm_start(cfg: DictConfig, dist) -> Path:
    """Path of the warm-started model folder, training it (collectively) on first use."""
    from funcall.trainers.common import RunContext
    from funcall.trainers.sft import SFTTrainer

    root = cache_root() / "warm_start"
    target = root / warm_start_key(cfg)
    model_dir = target / "hf_model"
    lock = None
    if dist.is_main:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f".{target.name}.lock", "w")  # noqa: SIM115 - held until the finally below
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        ready = broadcast_object((model_dir / "config.json").exists())
        if not ready:
            build = root / f".build-{target.name}"
            if dist.is_main:
                shutil.rmtree(build, ignore_errors=True)
                build.mkdir(parents=True)
            barrier()
            sft_cfg = sft_config(cfg, dist.world_size)
            ctx = RunContext(run_dir=build, dist=dist, log=RunLog(build, dist.is_main), config={})
            if dist.is_main:
                print(f"warm start: {int(sft_cfg.trainer.max_steps)} SFT steps, cached in {target}", flush=True)
            SFTTrainer(**{k: v for k, v in OmegaConf.to_container(sft_cfg.trainer).items() if k != "_target_"}
                       ).fit(sft_cfg, ctx)
            if dist.is_main:
                build.rename(target)
            barrier()
    finally:
        if lock is not None:
            lock.close()
    return model_dir
