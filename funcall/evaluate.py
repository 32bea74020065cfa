"""``python -m funcall.evaluate model.path=... eval.data_dir=... eval.categories=[...] eval.limit=N``.

The evaluation app: compose ``conf/evaluate.yaml``, read the task's data (``eval`` group; BFCL v4
single-turn by default), load the model through DeepSpeed exactly as training does (so ZeRO-3
shards a model too big for one device, and one CPU process runs the same code as eight GPUs),
generate greedy answers with every rank taking an equal share of the entries, gather the graded
rows on rank 0, and write the task's files (``bfcl_scores.json``, ``bfcl_results.jsonl``) plus
``metrics.jsonl`` / ``summary.json`` into ``hydra.run.dir``. With ``logger=wandb`` the scores go
to the W&B summary and the failed entries to a W&B table. Runs under ``torchrun`` as it is.

What differs from `funcall.train`: no optimizer (DeepSpeed runs the model for inference only:
ZeRO-1/2 shard nothing without optimizer state, so they run as stage 0, and ZeRO-3 drops its
optimizer offload), and the data is read before the model is loaded, so a wrong path or category
fails in a second with one line (exit 2) rather than after the model has loaded.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from funcall.train import CONF_DIR, logged_config
from funcall.utils.errors import exit_on_user_error
from funcall.utils.hydra_setup import (
    quiet_libraries,
    register_resolvers,
    share_run_stamp,
)


def register_eval_resolvers() -> None:
    """``${funcall.bfcl_data:}``: the data folder of an installed bfcl_eval package, or null."""
    if not OmegaConf.has_resolver("funcall.bfcl_data"):
        from funcall.eval.bfcl_eval import installed_bfcl_data

        OmegaConf.register_new_resolver("funcall.bfcl_data", installed_bfcl_data)


register_resolvers()
register_eval_resolvers()


def inference_ds_config(ds: dict) -> dict:
    """The DeepSpeed config for a model without optimizer (as the RL reference model runs)."""
    ds = dict(ds)
    zero = ds.get("zero_optimization", {})
    ds["zero_optimization"] = ({k: v for k, v in zero.items() if k != "offload_optimizer"}
                               if zero.get("stage") == 3 else {"stage": 0})
    ds.pop("zero_force_ds_cpu_optimizer", None)
    return ds


@exit_on_user_error
def run(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    import deepspeed

    from funcall.logging.run_log import RunLog
    from funcall.models.load import load_pretrained
    from funcall.rollout.hf import HFEngine
    from funcall.trainers.distributed import (
        all_gather_objects,
        barrier,
        init_distributed,
        zero_stage,
    )
    from funcall.utils.instantiate import instantiate

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    task = instantiate(cfg.eval, _key="eval")
    n_entries = task.load()  # config and data first: fail before anything heavy
    quiet_libraries()
    dist = init_distributed()
    run_dir = Path(run_dir or HydraConfig.get().runtime.output_dir)
    ds_config = inference_ds_config(OmegaConf.to_container(cfg.deepspeed, resolve=True))
    stage = zero_stage(ds_config)
    model, tokenizer, model_path = load_pretrained(instantiate(cfg.model, _key="model"), ds_config)
    engine, *_ = deepspeed.initialize(model=model, config=ds_config)
    engine.eval()
    generator = HFEngine(engine.module, tokenizer, zero3=stage == 3, gather=bool(cfg.zero3_gather),
                         batch_size=int(cfg.eval.get("batch_size", 64)))
    log = RunLog(run_dir, dist.is_main, instantiate(cfg.logger, _key="logger") if dist.is_main else None)
    log.start(logged_config(cfg))

    progress = None
    if dist.is_main:
        from tqdm.auto import tqdm

        progress = tqdm(total=len(range(0, n_entries, dist.world_size)), desc=task.name, dynamic_ncols=True)
    t_start = time.time()
    rows = task.run(generator, tokenizer, dist, context_length=getattr(model.config, "max_position_embeddings", None),
                    progress=progress)
    if progress is not None:
        progress.close()
    rows = [row for part in all_gather_objects(rows) for row in part]
    wall_s = time.time() - t_start
    summary: dict = {}
    if dist.is_main:
        meta = {"model": model_path, "world_size": dist.world_size, "zero_stage": stage, "wall_s": round(wall_s, 3)}
        report = task.report(rows, run_dir, meta)
        print(report.table, flush=True)
        log.log(report.metrics, step=0)
        log.table(f"{task.name}/failures", report.failure_columns, report.failure_rows, step=0)
        summary = {**report.metrics, **meta}
        log.summary(summary)
        print(f"results in {run_dir}", flush=True)
    log.close()
    barrier()
    return summary


@hydra.main(config_path=CONF_DIR, config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    share_run_stamp()
    main()
