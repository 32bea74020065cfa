"""Checkpoints: DeepSpeed state plus what a resumed run needs to continue bit for bit.

A checkpoint is a DeepSpeed tag folder ``checkpoints/step_00000040`` (module, optimizer and
scheduler state, sharded as the ZeRO stage shards them) with a client state holding the step,
every rank's RNG states and the trainer's own state. DeepSpeed writes the ``latest`` file only
after a tag is complete, so a run killed mid-save resumes from the previous tag. Older tags are
pruned after a save, keeping ``keep`` of them. The data position needs no saving: the sampler
(`funcall.data.sampler`) derives it from the step.

At the end of training, `export_hf` writes a plain Hugging Face model folder (16-bit weights
gathered from all ZeRO shards when training used bf16/fp16, fp32 otherwise, plus the tokenizer)
that ``model.path`` loads. For a LoRA policy that folder holds the merged model (base + adapters,
under the base model's names, `funcall.rollout.weights.gathered_weights`), and with
``trainer.export_adapter=true`` the adapter alone goes beside it (peft's ``save_pretrained``).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from funcall.dist import all_gather_objects, barrier
from funcall.models.lora import is_lora
from funcall.rollout.weights import gathered_weights
from funcall.utils.seed import rng_state, set_rng_state


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_tag(run_dir: Path) -> str | None:
    latest = checkpoint_dir(run_dir) / "latest"
    return latest.read_text().strip() if latest.exists() else None


def save(engine, run_dir: Path, step: int, trainer_state: dict[str, Any] | None = None, keep: int = 2,
         is_main: bool = True) -> None:
    """Collective: every rank must call it."""
    tag = f"step_{step:08d}"
    state = {"step": step, "rng": all_gather_objects(rng_state()), "trainer": trainer_state or {}}
    engine.save_checkpoint(str(checkpoint_dir(run_dir)), tag=tag, client_state=state)
    barrier()
    if is_main and keep > 0:
        tags = sorted(p for p in checkpoint_dir(run_dir).glob("step_*") if p.is_dir())
        for old in tags[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()


def load(engine, run_dir: Path, rank: int) -> dict[str, Any] | None:
    """Load the latest checkpoint into ``engine``; returns its client state, or None if none."""
    tag = latest_tag(run_dir)
    if tag is None:
        return None
    _, state = engine.load_checkpoint(str(checkpoint_dir(run_dir)), tag=tag)
    if state is None:
        return None
    rngs = state.get("rng") or []
    if rank < len(rngs):
        set_rng_state(rngs[rank])
    return state


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
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        model_to_save.save_pretrained(out_dir, state_dict=state)
        tokenizer.save_pretrained(out_dir)
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
            model.save_pretrained(str(out_dir))
    barrier()
