"""``python -m funcall.compare RUN_DIR... --out DIR``: compare runs without a W&B server.

Reads each run directory's ``metrics.jsonl``, ``summary.json`` and ``.hydra/overrides.yaml`` and
writes ``DIR/comparison.md`` (one row per run: the overrides that tell the runs apart, with the
default a run kept read from its ``.hydra/`` when it did not override that key; the final
metrics, the held-out accuracy) and ``DIR/comparison.png`` (reward, held-out accuracy, think
entropy, KL and, when present, loss and HumanEval pass@1, against step). Runs whose overrides
differ only by ``seed`` form one group, drawn as the mean with a band from the lowest to the
highest seed, so a sweep over seeds reads as one curve per setting (``n`` in its label: the runs
of that setting). The figure's one legend names every setting drawn on any panel
(`legend_entries`), not only those of the first, and a setting keeps its colour on every panel,
whichever settings a panel lacks. Folders of a ``-m`` sweep can be passed as the sweep folder
itself: every sub-folder holding a metrics.jsonl is a run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

IGNORED = {"hydra.run.dir", "trainer.resume", "hydra.sweep.dir"}
FINAL_KEYS = ["loss", "reward/mean", "kl", "entropy/think", "eval/ast_accuracy", "eval/episode_pass", "eval/humaneval_pass@1"]
PLOTS = [("reward/mean", "training reward"), ("eval/ast_accuracy", "held-out AST accuracy"),
         ("eval/episode_pass", "held-out episode pass rate"),
         ("entropy/think", "<think> entropy (nats)"), ("kl", "KL to reference"), ("loss", "loss"),
         ("eval/humaneval_pass@1", "HumanEval pass@1")]


class Run:
    def __init__(self, path: Path):
        self.path = path
        self.rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines() if line.strip()]
        summary = path / "summary.json"
        self.summary = json.loads(summary.read_text()) if summary.exists() else {}
        self.overrides = read_overrides(path)
        self._config = None

    def setting(self, key: str) -> str:
        """The run's value of ``key``: its override, else the group option or config value it ran
        with (from ``.hydra/``), so a run that kept a default still shows what that default was."""
        if key in self.overrides:
            return self.overrides[key]
        if self._config is None:
            from omegaconf import OmegaConf

            files = [self.path / ".hydra" / name for name in ("hydra.yaml", "config.yaml")]
            self._config = [OmegaConf.load(f) if f.exists() else OmegaConf.create() for f in files]
        hydra_yaml, config = self._config
        choice = OmegaConf_select(hydra_yaml, "hydra.runtime.choices", {}).get(key)
        if choice is not None:
            return str(choice)
        value = OmegaConf_select(config, key, None)
        return "-" if value is None else str(value)

    def series(self, key: str) -> dict[int, float]:
        return {r["step"]: r[key] for r in self.rows if r.get(key) is not None}

    def final(self, key: str):
        if self.summary.get(key) is not None:
            return self.summary[key]
        values = self.series(key)
        return values[max(values)] if values else None


def OmegaConf_select(cfg, key: str, default):  # noqa: N802 - reads like the call it wraps
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key, default=default)
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def read_overrides(path: Path) -> dict[str, str]:
    file = path / ".hydra" / "overrides.yaml"
    if not file.exists():
        return {}
    out = {}
    for line in file.read_text().splitlines():
        item = line.strip().removeprefix("- ").strip().strip("'\"")
        if "=" in item:
            key, value = item.split("=", 1)
            if key.lstrip("+~") not in IGNORED:
                out[key.lstrip("+~")] = value
    return out


def find_runs(paths: list[Path]) -> list[Run]:
    runs = []
    for p in paths:
        if (p / "metrics.jsonl").exists():
            runs.append(Run(p))
        elif p.is_dir():
            runs += [Run(m.parent) for m in sorted(p.rglob("metrics.jsonl"))]
        else:
            raise SystemExit(f"error: {p}: not a run directory (no metrics.jsonl)")
    if not runs:
        raise SystemExit("error: no run directories with a metrics.jsonl among " + " ".join(map(str, paths)))
    return runs


def distinguishing(runs: list[Run]) -> list[str]:
    """Override keys whose value is not the same in every run."""
    keys = sorted({k for r in runs for k in r.overrides})
    return [k for k in keys if len({r.overrides.get(k) for r in runs}) > 1]


def group_label(run: Run, keys: list[str]) -> str:
    """The run's setting: its values of the distinguishing overrides other than the seed."""
    parts = [f"{k.rsplit('.', 1)[-1]}={run.setting(k)}" for k in keys if k != "seed"]
    label = ", ".join(parts) or "same settings"  # runs differing only by seed pool together
    return label if len(label) <= 70 else label[:67] + "..."


def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table(runs: list[Run], keys: list[str]) -> str:
    header = ["run", *(f"{k}=" for k in keys), "steps", "wall_s", *FINAL_KEYS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in runs:
        cells = [r.path.name, *(r.setting(k) for k in keys), fmt(r.summary.get("steps")),
                 fmt(r.summary.get("wall_s")), *(fmt(r.final(k)) for k in FINAL_KEYS)]
        lines.append("| " + " | ".join(cells) + " |")
    groups = defaultdict(list)
    for r in runs:
        groups[group_label(r, keys)].append(r)
    if any(len(g) > 1 for g in groups.values()):
        lines += ["", "Seeds pooled (mean +- std over runs that differ only by seed):", "",
                  "| setting | runs | " + " | ".join(FINAL_KEYS) + " |", "|" + "---|" * (len(FINAL_KEYS) + 2)]
        for label, members in groups.items():
            cells = []
            for k in FINAL_KEYS:
                values = [m.final(k) for m in members if isinstance(m.final(k), (int, float))]
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append(f"{statistics.mean(values):.4g} +- {sd:.2g}" if values else "-")
            lines.append(f"| {label} | {len(members)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def legend_entries(axes) -> tuple[list, list[str]]:
    """Every series' handle and label over all the axes, once per label, in order of appearance:
    a run with no point on the first metric (no held-out eval, no KL in SFT) is still named."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def figure(runs: list[Run], keys: list[str]):
    """The comparison figure: one panel per metric some run has, one curve per setting (seeds
    pooled), each setting with one colour on every panel and one entry in the figure's legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [(k, t) for k, t in PLOTS if any(r.series(k) for r in runs)]
    cols = 2 if len(present) > 1 else 1
    rows = -(-len(present) // cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.8 * rows), squeeze=False)
    groups = defaultdict(list)
    for r in runs:
        groups[group_label(r, keys)].append(r)
    styles = {label: dict(color=f"C{i % 10}", linestyle=("-", "--", ":", "-.")[i // 10 % 4])
              for i, label in enumerate(groups)}  # the same look for a setting on every panel
    for ax, (key, title) in zip(axes.flat, present):
        for label, members in groups.items():
            series = [m.series(key) for m in members if m.series(key)]
            steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
            if not steps:
                continue
            values = [[s[t] for s in series] for t in steps]
            ax.plot(steps, [statistics.mean(v) for v in values], marker="o" if len(steps) < 15 else None,
                    label=f"{label} (n={len(members)})", **styles[label])
            if len(series) > 1:
                ax.fill_between(steps, [min(v) for v in values], [max(v) for v in values], alpha=0.2,
                                color=styles[label]["color"])
        ax.set(title=title, xlabel="step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    handles, labels = legend_entries(axes.flat)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=1 if max(map(len, labels)) > 40 else 3, fontsize=8)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * len(labels), 1, 1))
    return fig


def plot(runs: list[Run], keys: list[str], out: Path) -> None:
    import matplotlib.pyplot as plt

    fig = figure(runs, keys)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m funcall.compare", description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories (or sweep folders holding them)")
    ap.add_argument("--out", type=Path, required=True, help="folder for comparison.md and comparison.png")
    args = ap.parse_args(argv)
    runs = find_runs(args.runs)
    keys = distinguishing(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    text = "# Run comparison\n\n" + table(runs, keys) + "\n"
    (args.out / "comparison.md").write_text(text)
    plot(runs, keys, args.out / "comparison.png")
    print(text)
    print(f"wrote {args.out / 'comparison.md'} and {args.out / 'comparison.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
