"""``python -m funcall.evaluate model.path=... eval.data_dir=... eval.categories=[...] eval.limit=N``.

Also ``eval=humaneval`` (HumanEval pass@k, sandboxed; keys ``eval.humaneval.*``) and
``eval=[bfcl,humaneval]`` (both, one model load; `build_tasks` reads ``eval.tasks``).

The evaluation app: compose ``conf/evaluate.yaml``, read the tasks' data (``eval`` group; BFCL v4
single-turn by default), load the model through DeepSpeed exactly as training does (so ZeRO-3
shards a model too big for one device, and one CPU process runs the same code as eight GPUs),
generate greedy answers with every rank taking an equal share of the entries, gather the graded
rows on rank 0, and write each task's files (``bfcl_scores.json``, ``bfcl_results.jsonl``;
``humaneval_scores.json``, ``humaneval_results.jsonl``) plus ``metrics.jsonl`` (one row, step 0,
every task's metrics) / ``summary.json`` into ``hydra.run.dir``. With ``logger=wandb`` the scores
go to the W&B summary and each task's failures to a W&B table. Runs under ``torchrun`` as it is.

What differs from `funcall.train`: no optimizer (DeepSpeed runs the model for inference only:
ZeRO-1/2 shard nothing without optimizer state, so they run as stage 0, and ZeRO-3 drops its
optimizer offload), and the data is read before the model is loaded, so a wrong path or category
fails in a second with one line (exit 2) rather than after the model has loaded. Generation goes
through the ``rollout`` group's engine (``rollout.engine``), as in training.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from funcall.envs.bfcl_data import register_bfcl_data_resolver
from funcall.train import logged_config
from funcall.utils.errors import ConfigError, exit_on_user_error
from funcall.utils.hydra_setup import (
    CONF_DIR,
    quiet_libraries,
    register_resolvers,
    share_run_stamp,
)

register_resolvers()
register_bfcl_data_resolver()


def build_tasks(cfg: DictConfig) -> list:
    """The selected tasks, in selection order. ``eval.tasks`` maps each name to the config node
    holding its keys (``eval`` for BFCL, ``eval.humaneval`` for HumanEval); a task whose keys sit
    at ``eval`` itself does not receive ``tasks`` or the other tasks' nodes."""
    from funcall.utils.instantiate import instantiate

    where = dict(cfg.eval.get("tasks") or {})
    if not where:
        raise ConfigError("eval.tasks is empty: pick a task with eval=bfcl, eval=humaneval or eval=[bfcl,humaneval]")
    nested = {path.split(".", 1)[1].split(".")[0] for path in where.values() if path.startswith("eval.")}
    tasks = []
    for name, path in where.items():
        node = OmegaConf.select(cfg, path)
        if node is None:
            raise ConfigError(f"eval.tasks.{name}={path}: no such config node")
        if path == "eval":
            node = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
                    if k != "tasks" and k not in nested}
        tasks.append(instantiate(node, _key=path))
    return tasks


@exit_on_user_error
def run(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    from funcall.dist import init_distributed, shutdown
    from funcall.logging.console import log
    from funcall.trainers.checks import check_model
    from funcall.utils.run_lock import run_dir_lock

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tasks = build_tasks(cfg)
    sizes = [task.load() for task in tasks]  # config and data first: fail before anything heavy
    check_model(cfg.model)
    quiet_libraries()
    dist = init_distributed()
    run_dir = Path(run_dir or HydraConfig.get().runtime.output_dir)
    with run_dir_lock(run_dir, dist):
        if dist.is_main:
            log.info(f"run folder: {run_dir}")
        summary = evaluate_tasks(cfg, tasks, sizes, dist, run_dir)
    shutdown()
    return summary


def evaluate_tasks(cfg: DictConfig, tasks: list, sizes: list[int], dist, run_dir: Path) -> dict:
    """Load the model once, run every task on it, write the files; returns the summary (rank 0)."""
    import deepspeed

    from funcall.dist import all_gather_objects
    from funcall.logging.console import duration, log
    from funcall.logging.run_log import RunLog
    from funcall.models.load import context_length, load_pretrained
    from funcall.trainers.ds_config import deepspeed_config, zero_stage
    from funcall.utils.instantiate import instantiate

    ds_config = deepspeed_config(cfg.deepspeed, precision=str(cfg.precision), inference=True)
    model, tokenizer, model_path = load_pretrained(instantiate(cfg.model, _key="model"), ds_config)

    engine, *_ = deepspeed.initialize(model=model, config=ds_config)
    engine.eval()
    generator = instantiate(cfg.rollout.engine, module=model, tokenizer=tokenizer, ds_engine=engine,
                            _key="rollout.engine")
    generator.sync_weights()  # an engine with its own copy (vLLM) starts from exactly these weights
    run_log = RunLog(run_dir, dist.is_main, instantiate(cfg.logger, _key="logger") if dist.is_main else None)
    run_log.start(logged_config(cfg))
    metrics, reports = {}, []
    meta = {"model": model_path, "world_size": dist.world_size, "zero_stage": zero_stage(ds_config)}
    t_all = time.time()
    for task, n_entries in zip(tasks, sizes):
        progress = None
        if dist.is_main:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(range(0, n_entries, dist.world_size)), desc=task.name, dynamic_ncols=True)
        t_start = time.time()
        try:
            rows = task.run(generator, tokenizer, dist, progress=progress,
                            context_length=context_length(model, cfg.rollout.engine))
        finally:
            if progress is not None:
                progress.close()  # so an error message starts on a line of its own
        rows = [row for part in all_gather_objects(rows) for row in part]
        if dist.is_main:
            report = task.report(rows, run_dir, {**meta, "wall_s": round(time.time() - t_start, 3)})
            log.info(report.table)
            metrics.update(report.metrics)
            reports.append((task, report))
    summary: dict = {}
    if dist.is_main:
        run_log.log(metrics, step=0)
        for task, report in reports:
            run_log.table(f"{task.name}/failures", report.failure_columns, report.failure_rows, step=0)
        summary = {**metrics, **meta, "tasks": [task.name for task in tasks], "wall_s": round(time.time() - t_all, 3)}
        run_log.summary(summary)
        log.info(f"done: {', '.join(task.name for task in tasks)} in {duration(summary['wall_s'])}; results in {run_dir}")
    run_log.close()
    return summary


@hydra.main(config_path=CONF_DIR, config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    share_run_stamp()
    main()
