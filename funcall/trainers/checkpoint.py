"""Checkpoints: DeepSpeed state plus what a resumed run needs to continue bit for bit, verified.

A checkpoint is a DeepSpeed tag folder ``checkpoints/step_00000040`` (module, optimizer and
scheduler state, sharded as the ZeRO stage shards them) with a client state holding the step,
every rank's RNG states and the trainer's own state. The data position needs no saving: the
sampler (`funcall.data.sampler`) derives it from the step.

How it differs from the obvious (DeepSpeed's ``save_checkpoint``, then ``load_checkpoint`` of
the tag named in ``latest``): a file cut by ``kill -9`` mid-save, or changed afterwards, loads
into a long torch traceback that names no file, or into wrong weights. So after every rank has
saved, the ranks hash the tag's files (each its share), and rank 0 writes ``manifest.json``
(`funcall.trainers.checkpoint_manifest`) last and atomically: a tag is complete only once its
manifest exists. `load` ignores ``latest`` and takes the newest tag whose files all match their
manifest (checked by the ranks in parallel, so all agree), telling which newer tags it skipped
and why; with tags present and none intact it stops with one line (`ConfigError`) instead of
starting over. Tags saved before manifests existed are trusted only when no tag has one (then
``latest`` is used, as before, with a warning). Pruning (``keep``) runs after the new manifest
is written and only ever deletes tags older than the new one.

At the end of training, `export_hf` writes a plain Hugging Face model folder (16-bit weights
gathered from all ZeRO shards when training used bf16/fp16, fp32 otherwise, plus the tokenizer)
that ``model.path`` loads. For a LoRA policy that folder holds the merged model (base + adapters,
under the base model's names, `funcall.rollout.weights.gathered_weights`), and with
``trainer.export_adapter=true`` the adapter alone goes beside it (peft's ``save_pretrained``).
Both are written into a folder beside their place and swapped in (`funcall.utils.atomic.write_dir_atomic`):
a full disk mid-export (met by the 0.5B rehearsal) leaves a resumed run's previous export whole.
"""
from __future__ import annotations

import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.distributed as dist

from funcall.dist import all_gather_objects, barrier, broadcast_object
from funcall.models.lora import is_lora
from funcall.rollout.weights import gathered_weights
from funcall.trainers.checkpoint_manifest import MANIFEST, describe, tag_files, verify_tag, write_manifest
from funcall.utils.atomic import write_dir_atomic
from funcall.utils.errors import ConfigError
from funcall.utils.seed import rng_state, set_rng_state


@dataclass(frozen=True)
class Loaded:
    """What `load` resumed: the client state of ``tag``, the newer tags it passed over (one line
    each, naming the file and what is wrong with it), and a warning when it trusted ``latest``."""

    state: dict[str, Any]
    tag: str
    skipped: list[str] = field(default_factory=list)
    warning: str | None = None


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_tag(run_dir: Path) -> str | None:
    latest = checkpoint_dir(run_dir) / "latest"
    return latest.read_text().strip() if latest.exists() else None


def tags_newest_first(run_dir: Path) -> list[str]:
    return sorted((p.name for p in checkpoint_dir(run_dir).glob("step_*") if p.is_dir()), reverse=True)


def _world() -> tuple[int, int]:
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def save(engine, run_dir: Path, step: int, trainer_state: dict[str, Any] | None = None, keep: int = 2,
         is_main: bool = True) -> None:
    """Collective: every rank must call it. DeepSpeed's files, then the manifest, then pruning."""
    tag = f"step_{step:08d}"
    tag_dir = checkpoint_dir(run_dir) / tag
    if is_main and tag_dir.exists():
        shutil.rmtree(tag_dir)  # a tag saved again (after a resume from an older one): no stale file or manifest
    barrier()
    state = {"step": step, "rng": all_gather_objects(rng_state()), "trainer": trainer_state or {}}
    engine.save_checkpoint(str(checkpoint_dir(run_dir)), tag=tag, client_state=state)
    barrier()
    _write_manifest(tag_dir, is_main)
    if is_main and keep > 0:
        prune(run_dir, tag, keep)
    barrier()


def _write_manifest(tag_dir: Path, is_main: bool) -> None:
    """Hash the tag's files, each rank its share of rank 0's list; rank 0 writes the manifest."""
    rank, world = _world()
    names = broadcast_object(tag_files(tag_dir) if is_main else None)
    files: dict[str, dict[str, Any]] = {}
    for part in all_gather_objects(describe(tag_dir, names[rank::world])):
        files.update(part)
    if is_main:
        write_manifest(tag_dir, files)
    barrier()


def prune(run_dir: Path, tag: str, keep: int) -> None:
    """Delete tags older than ``tag`` beyond the ``keep - 1`` newest of them; newer ones (left by a
    run that resumed from an older tag) are never touched."""
    older = [t for t in tags_newest_first(run_dir) if t < tag]
    for old in older[max(keep - 1, 0):]:
        shutil.rmtree(checkpoint_dir(run_dir) / old, ignore_errors=True)


def load(engine, run_dir: Path, rank: int) -> Loaded | None:
    """Load the newest intact checkpoint into ``engine`` and restore this rank's RNG states
    (module docstring); None when there is no checkpoint at all. Collective: every rank must
    call it, and all of them load the same tag."""
    tags = broadcast_object(tags_newest_first(run_dir))
    if not tags:
        return None
    if not broadcast_object(any((checkpoint_dir(run_dir) / t / MANIFEST).exists() for t in tags)):
        return _load_unverified(engine, run_dir, rank, tags)
    skipped = []
    for tag in tags:
        problem = _check(run_dir, tag)
        if problem is None:
            return Loaded(_load_tag(engine, run_dir, tag, rank), tag, skipped)
        skipped.append(problem)
    raise ConfigError(_none_intact(run_dir, skipped), every_rank=True)  # every rank reached the same verdict


def _none_intact(run_dir: Path, problems: list[str]) -> str:
    return (f"hydra.run.dir={run_dir}: trainer.resume=true found no intact checkpoint ({'; '.join(problems)}); "
            f"delete the corrupt folders in {checkpoint_dir(run_dir)} (all of them to start over), or start "
            f"without trainer.resume in another hydra.run.dir")


def _check(run_dir: Path, tag: str) -> str | None:
    """The first problem of ``tag`` found by any rank (each checks its share), or None: the same
    answer on every rank."""
    rank, world = _world()
    problems = all_gather_objects(verify_tag(checkpoint_dir(run_dir) / tag, f"checkpoints/{tag}", rank, world))
    return next((p for p in problems if p), None)


def _load_tag(engine, run_dir: Path, tag: str, rank: int) -> dict[str, Any]:
    _, state = engine.load_checkpoint(str(checkpoint_dir(run_dir)), tag=tag)
    if state is None:
        raise ConfigError(f"{checkpoint_dir(run_dir) / tag}: DeepSpeed found no model states it can load there "
                          f"(saved with another number of ranks or another parallel layout?)")
    rngs = state.get("rng") or []
    if rank < len(rngs):
        set_rng_state(rngs[rank])
    return state


def _load_unverified(engine, run_dir: Path, rank: int, tags: list[str]) -> Loaded:
    """Tags saved before manifests existed: DeepSpeed's ``latest``, unchecked, as before."""
    tag = latest_tag(run_dir)
    if tag is None or tag not in tags:
        raise ConfigError(_none_intact(run_dir, [f"checkpoints/{t}: no manifest" for t in tags]
                                       + [f"checkpoints/latest names {tag!r}" if tag else "no checkpoints/latest"]),
                          every_rank=True)
    try:
        state = _load_tag(engine, run_dir, tag, rank)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"checkpoints/{tag} in hydra.run.dir={run_dir} (saved without a manifest) does not load: "
                          f"{first}; write an older tag's name into checkpoints/latest to resume from that one, or start "
                          f"without trainer.resume in another hydra.run.dir") from exc
    warning = (f"checkpoints/{tag}: resuming from DeepSpeed's latest without verifying it (no checkpoint of this "
               f"run has a manifest: saved by an older funcall)")
    return Loaded(state, tag, warning=warning)


def export_hf(engine, model, tokenizer, out_dir: Path, is_main: bool, prefix: str = "") -> None:
    """Write a Hugging Face folder of ``model`` (merged, for a LoRA policy). Collective under
    ZeRO-3 (weights are gathered).

    ``prefix`` is the name of ``model`` inside ``engine.module`` (e.g. ``"model."`` when the
    engine wraps the model together with a loss that has parameters).
    """
    out_dir = Path(out_dir)
    zero3 = engine.zero_optimization_partition_weights()
    if is_lora(model):
        state, model_to_save = {}, model.get_base_model()
        for name, tensor in gathered_weights(model, zero3):  # collective under ZeRO-3
            if is_main:
                state[name] = tensor.detach().clone()
    else:
        model_to_save = model
        if zero3:
            full = engine._zero3_consolidated_16bit_state_dict()  # collective
        else:
            full = engine.module.state_dict() if is_main else None
        if is_main:
            state = {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}
    if is_main:  # beside, then swapped in: a full disk or a kill mid-write leaves the previous export whole
        def write(folder: Path) -> None:
            model_to_save.save_pretrained(folder, state_dict=state)
            tokenizer.save_pretrained(folder)
        write_dir_atomic(out_dir, write)
    barrier()


def export_adapter(engine, model, out_dir: Path, is_main: bool) -> None:
    """Write the LoRA adapter of ``model`` alone (peft's ``save_pretrained``: adapter_config.json and
    the adapter weights). Collective under ZeRO-3 (the adapters are gathered)."""
    from contextlib import nullcontext

    adapters = [p for p in model.parameters() if p.requires_grad]
    gather = nullcontext()
    if engine.zero_optimization_partition_weights():
        import deepspeed

        gather = deepspeed.zero.GatheredParameters(adapters, modifier_rank=None)
    with gather:
        if is_main:
            write_dir_atomic(Path(out_dir), lambda folder: model.save_pretrained(str(folder)))
    barrier()
