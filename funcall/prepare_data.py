"""``python -m funcall.prepare_data input.path=... input.format=xlam|bfcl|jsonl judge=... output_dir=DIR``.

The data-preparation app (`conf/prepare_data.yaml`): read the input, run every sample through the
configured stages (`pipeline.stages`, default ``[llm, ast]``: FunReason's judged checks with
teacher reasoning and answer regeneration, then the calls against the tool schemas), and write
into DIR: ``train.jsonl`` (kept samples in our schema, each with its input ``id``),
``rejected.jsonl`` (``id``, ``stage``, ``reason``, ``detail`` for every other sample),
``dataset/`` (the kept samples as a Hugging Face dataset, ``save_to_disk``) and ``report.json``
(counts per stage and reason, judge requests, tokens, cache hits, wall time). Every input sample
ends in exactly one of train.jsonl and rejected.jsonl; the report says so (``accounted``).

Resuming: the judge's replies are cached in ``cache.path`` (SQLite, in DIR by default) as they
arrive, and the outputs are written only at the end, each file atomically. A killed run therefore
leaves no half-written output, and the same command run again replays every answered request
from the cache and asks the judge only for the rest.

A file that cannot be read (missing, a line that is not JSON) stops the run before anything is
written, with one line naming file and line and exit status 2; so do config errors and a judge
that refuses the key or cannot be reached at all. Hydra writes nothing of its own here (no
``outputs/`` folder, no ``.hydra/``): report.json records the resolved config (the judge's key
is never in it; only the name of the variable holding it).
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from funcall.utils.errors import ConfigError, exit_on_user_error
from funcall.utils.hydra_setup import CONF_DIR

STAGE_KINDS = ("llm", "ast")


def stage_names(kinds: list[str]) -> list[str]:
    """``[llm, ast, llm]`` -> ``[llm, ast, llm_2]`` (a repeated stage is told apart in the outputs)."""
    names, seen = [], Counter()
    for kind in kinds:
        if kind not in STAGE_KINDS:
            raise ConfigError(f"pipeline.stages: unknown stage {kind!r}; choose from {list(STAGE_KINDS)}")
        seen[kind] += 1
        names.append(kind if seen[kind] == 1 else f"{kind}_{seen[kind]}")
    if not names:
        raise ConfigError("pipeline.stages: give at least one stage")
    return names


def build_stages(names: list[str], judge, pipeline_cfg: DictConfig) -> list:
    from funcall.prepare.stages import ASTStage, LLMOptions, LLMStage

    option_keys = LLMOptions.__dataclass_fields__.keys()
    options = LLMOptions(**{k: (list(v) if k == "checks" else v) for k, v in
                            OmegaConf.to_container(pipeline_cfg, resolve=True).items() if k in option_keys})
    return [LLMStage(judge, options, name) if name.startswith("llm") else ASTStage(name) for name in names]


def missing_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Keys still ``???``, without resolving interpolations (those may point at a missing key)."""
    found = []
    for key in list(node):
        if OmegaConf.is_missing(node, key):
            found.append(f"{prefix}{key}")
        elif not OmegaConf.is_interpolation(node, key) and isinstance(node[key], DictConfig):
            found += missing_keys(node[key], f"{prefix}{key}.")
    return found


def check_no_missing(cfg: DictConfig, needs_judge: bool) -> None:
    """One `ConfigError` naming every value still ``???`` (the judge's only if a stage asks it)."""
    missing = [k for k in missing_keys(cfg) if needs_judge or not k.startswith("judge.")]
    if missing:
        raise ConfigError(f"missing value{'s' if len(missing) > 1 else ''}: " + ", ".join(f"{k}=..." for k in missing))


async def _run_pipeline(pipeline, samples, progress, judge):
    try:
        return await pipeline.run(samples, progress)
    finally:
        if judge is not None:
            await judge.aclose()


def run_stages(pipeline, samples: list, judge, cache, show_progress: bool) -> tuple[list, int | None]:
    """Every sample through the pipeline under a progress bar: ``(results, cache entries)``.

    The judge is closed and the cache counted and closed however the run ends (the count is None
    without a cache)."""
    from tqdm.auto import tqdm

    progress = tqdm(total=len(samples), desc="prepare_data", unit="sample", dynamic_ncols=True, disable=not show_progress)
    try:
        results = asyncio.run(_run_pipeline(pipeline, samples, progress, judge))
        return results, (len(cache) if cache is not None else None)
    finally:
        progress.close()  # so a message starts on a line of its own
        if cache is not None:
            cache.close()


def summary_line(report: dict, stats: dict | None, out_dir: Path) -> str:
    """The one line printed at the end: counts, rejections by reason, the judge's requests."""
    reasons = ", ".join(f"{k} {v}" for k, v in report["rejected_by_reason"].items())
    judged = "" if stats is None else (f"; judge: {stats['requests']} requests, {stats['cache_hits']} from cache, "
                                       f"{stats['failures']} failed")
    return (f"prepare_data: {report['samples']} samples: {report['kept']} kept, {report['rejected']} rejected"
            f"{f' ({reasons})' if reasons else ''}{judged}; outputs in {out_dir}")


@exit_on_user_error
def run(cfg: DictConfig) -> dict:
    from funcall.judges.cache import CachedJudge, ReplyCache
    from funcall.prepare.inputs import read_samples
    from funcall.prepare.outputs import write_outputs
    from funcall.prepare.pipeline import Pipeline, tally
    from funcall.prepare.samples import Rejection, Sample
    from funcall.utils.instantiate import instantiate

    t_start = time.time()
    names = stage_names(list(cfg.pipeline.stages))
    needs_judge = any(name.startswith("llm") for name in names)
    check_no_missing(cfg, needs_judge)
    categories = list(cfg.input.categories) if cfg.input.get("categories") else None
    # Read and check everything before DIR is touched.
    samples, input_rejections, n_input = read_samples(str(cfg.input.path), str(cfg.input.format), categories,
                                                      cfg.input.get("limit"), split=str(cfg.input.get("split") or "train"),
                                                      name=cfg.input.get("name"), revision=cfg.input.get("revision"))
    backend = instantiate(cfg.judge, _key="judge") if needs_judge else None

    out_dir = Path(str(cfg.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = cfg.cache.get("path") if cfg.get("cache") else None
    cache = ReplyCache(cache_path) if (cache_path and needs_judge) else None
    judge = CachedJudge(backend, cache) if backend is not None else None
    pipeline = Pipeline(build_stages(names, judge, cfg.pipeline), int(cfg.pipeline.concurrency))
    results, cache_entries = run_stages(pipeline, samples, judge, cache, bool(cfg.pipeline.get("progress", True)))

    kept = [r for r in results if isinstance(r, Sample)]
    rejected = sorted(input_rejections + [r for r in results if isinstance(r, Rejection)], key=lambda r: r.index)
    accounted = len(kept) + len(rejected) == n_input and len({r.index for r in rejected} | {s.index for s in kept}) == n_input
    if not accounted:  # a bug, not a user error: never write outputs that lose samples
        raise RuntimeError(f"{n_input} input samples but {len(kept)} kept + {len(rejected)} rejected")
    stats = judge.stats.as_dict() if judge is not None else None
    report = {
        "input": {"path": str(cfg.input.path), "format": str(cfg.input.format), "samples": n_input},
        "samples": n_input,
        "kept": len(kept),
        "rejected": len(rejected),
        "accounted": accounted,
        "stages": tally(names, input_rejections, n_input, results),
        "rejected_by_reason": dict(sorted(Counter(f"{r.stage}/{r.reason}" for r in rejected).items())),
        "judge": None if judge is None else {"model": judge.model_id, "backend": str(cfg.judge._target_), **stats},
        "cache": None if cache is None else {"path": str(cache_path), "hits": stats["cache_hits"], "entries": cache_entries},
        "wall_s": round(time.time() - t_start, 3),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    report["outputs"] = write_outputs(out_dir, [s.output_row() for s in kept], [r.row() for r in rejected], report)
    print(summary_line(report, stats, out_dir), flush=True)
    return report


@hydra.main(config_path=CONF_DIR, config_name="prepare_data", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
