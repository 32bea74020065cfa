"""The SFT warm start RL begins from when the model is the raw tiny default.

RL cannot teach a randomly initialised model to call functions (its reward would be zero
everywhere), so ``trainer.warm_start`` first fine-tunes the tiny model on the same data and
prompt format for a fixed number of steps, then RL starts from that checkpoint. The SFT run's
config is composed by Hydra: ``conf/warm_start/sft.yaml`` (loss, optim and trainer nodes built
from the ``ce``, ``adamw`` and ``sft`` options) sits at ``trainer.warm_start`` of the RL config;
`sft_config` puts those nodes in place of the RL run's and applies ``trainer.warm_start.data`` to
the data source. With a ``model.path`` of your own there is no warm start: RL starts from it.

The result is cached under ``$FUNCALL_CACHE/warm_start/<hash>`` with its own ``metrics.jsonl`` and
``summary.json``. The hash covers what changes the SFT run's weights (the tiny spec, the data as
the SFT run resolves it, its loss, optimizer, steps, batch, sequence budget, precision and seed),
not the RL seed, RL-only keys or evaluation sizes, so every RL seed of a sweep starts from the same
policy. The cached checkpoint does not depend on the number of ranks (the global batch is held
fixed). A distributed launch on a cold cache does not build it: every rank would train it
together, a collective per SFT step (36 minutes for the single-turn warm start on 2 CPU ranks,
53 for the multi-turn one), so every rank stops at once with one line giving the one-process
command that builds it (`build_command`).

``trainer.warm_start.data`` lets the SFT data differ from the RL prompts: the tiny RL presets
give the warm start a call-heavy mix (few no-call examples), as SFT data usually is (xLAM-60k
has none), while RL's prompts and the held-out set keep their own mixes. ``model.lora`` does not
reach the warm start: it fine-tunes every weight, and a LoRA RL run adapts that checkpoint.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import shlex
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from funcall.dist import DistInfo, barrier, broadcast_object
from funcall.logging.console import log
from funcall.logging.run_log import RunLog
from funcall.models.tiny import cache_root
from funcall.trainers.ds_config import cpu_autocast, use_bf16
from funcall.trainers.run_context import RunContext
from funcall.utils.errors import ConfigError
from funcall.utils.instantiate import instantiate

RECIPE_VERSION = 2
WEIGHT_KEYS = ("max_steps", "micro_batch_size", "grad_accum", "max_length", "precision", "packing", "pack_length",
               "overlong")  # of the SFT trainer node


def sft_config(cfg: DictConfig, world_size: int = 1) -> DictConfig:
    """The warm start's SFT run: the RL config with ``trainer.warm_start``'s loss, optim, trainer
    and seed in place of its own, its data source updated by ``trainer.warm_start.data``, and the
    global batch split over ``world_size`` ranks."""
    ws = cfg.trainer.warm_start
    batch = int(ws.trainer.micro_batch_size)
    if batch % world_size:
        raise ConfigError(f"trainer.warm_start.batch_size={batch} must divide by the {world_size} ranks")
    # the node is resolved where it stands (its relative interpolations point into the RL config);
    # the rest with the warm start's seed, so whatever follows ${seed} (the data order) follows it
    node = OmegaConf.to_container(ws, resolve=True)
    rl = cfg.copy()
    rl.seed = int(node["seed"])
    sft = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
           for k, v in rl.items() if k != "hydra"}
    sft.update(loss=node["loss"], optim=node["optim"], trainer=node["trainer"])
    if sft["model"].get("lora"):
        sft["model"]["lora"]["r"] = None  # the warm start is full fine-tuning; RL's LoRA adapts its result
    sft["trainer"]["micro_batch_size"] = batch // world_size
    if node.get("data"):
        sft["data"]["source"].update(node["data"])
    return OmegaConf.create(sft)


def warm_start_key(cfg: DictConfig) -> str:
    """Hash of what changes the warm start's weights (module docstring)."""
    sft = sft_config(cfg)
    data = OmegaConf.to_container(sft.data, resolve=True)
    data.get("source", {}).pop("eval_size", None)
    parts = {"tiny": OmegaConf.to_container(cfg.model.tiny, resolve=True), "attn": cfg.model.attn_implementation, "data": data,
             "loss": OmegaConf.to_container(sft.loss), "optim": OmegaConf.to_container(sft.optim),
             "trainer": {k: sft.trainer.get(k) for k in WEIGHT_KEYS}, "seed": int(sft.seed), "v": RECIPE_VERSION,
             "bf16": [use_bf16(sft.trainer.precision), cpu_autocast(sft.trainer.precision)]}  # what "auto" became here
    if cfg.model.get("embedded") is not None:  # a model built from a spec (model=qwen3_small); absent for the tiny default
        parts["embedded"] = OmegaConf.to_container(cfg.model.embedded, resolve=True)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def announcement(sft: DictConfig, target: Path, world_size: int) -> str:
    """What is about to happen before the first RL step, and how to shorten or skip it."""
    steps, batch = int(sft.trainer.max_steps), int(sft.trainer.micro_batch_size) * world_size
    return (f"warm start: no cached SFT policy for this config, so RL first trains one: {steps} SFT steps of "
            f"{batch} examples (trainer.warm_start.steps, .batch_size), cached in {target} for every later run "
            f"of the same config. Shorten it with trainer.warm_start.steps=N, or skip it with model.path=DIR (your "
            f"own SFT model) or trainer.warm_start=null (RL from the raw model, which learns nothing on the tiny default)")


def build_command(overrides: list[str]) -> str:
    """The one-process command that builds the warm start of a run launched with ``overrides``:
    the same overrides (less Hydra's own, so it writes its own run folder), no RL step, no
    evaluation, no export."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith("hydra.")]
    extra = ["trainer.max_steps=0", "trainer.eval_size=0", "trainer.export=false"]
    return " ".join(["python -m funcall.train", *[shlex.quote(o) for o in kept], *extra])


def launch_overrides() -> list[str]:
    """The overrides this process was launched with (Hydra's record of them, else the argument list)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not under Hydra's main (a test calling the trainer directly)
        return [a for a in sys.argv[1:] if "=" in a]


def ensure_warm_start(cfg: DictConfig, dist: DistInfo) -> Path:
    """Path of the warm-started model folder, training it (collectively) on first use."""
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
        if not ready and dist.world_size > 1:
            # every rank would train it together, each step a collective: slow, and silent until it ends
            raise ConfigError(f"warm start: the SFT policy this RL run starts from is not cached ({target}); build it "
                              f"once in one process, then relaunch: {build_command(launch_overrides())} (or skip it: "
                              "model.path=DIR, or trainer.warm_start=null)", every_rank=True)
        if not ready:
            build = root / f".build-{target.name}"
            if dist.is_main:
                shutil.rmtree(build, ignore_errors=True)
                build.mkdir(parents=True)
            barrier()
            sft = sft_config(cfg, dist.world_size)
            if dist.is_main:
                log.info(announcement(sft, target, dist.world_size))
            run = RunContext(run_dir=build, dist=dist, log=RunLog(build, dist.is_main), config={}, where=target)
            instantiate(sft.trainer, _key="trainer.warm_start.trainer").fit(sft, run)
            if dist.is_main:
                build.rename(target)
            barrier()
    finally:
        if lock is not None:
            lock.close()
    return model_dir
