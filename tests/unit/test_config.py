"""The config tree: every group option composes, every experiment composes, every key is commented."""
from __future__ import annotations

import re

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import funcall.train  # noqa: F401 - registers the resolvers the config uses
from conftest import REPO

CONF = REPO / "conf"
# eval/ and judge/ belong to the evaluate.yaml and prepare_data.yaml apps (tests/e2e/test_evaluate.py, test_prepare_*.py);
# warm_start/ is composed into trainer.warm_start by conf/trainer/rl.yaml, not a root group
GROUPS = sorted(p.name for p in CONF.iterdir()  # hydra/: Hydra's own groups, chosen with `override hydra/...`
                if p.is_dir() and p.name not in ("experiment", "eval", "judge", "warm_start", "hydra"))


def compose_with(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes_and_resolves(group, option):
    overrides = [f"{group}={option}"]
    if group == "data" and "synthetic" not in option:
        overrides.append("data.path=/some/file")
    cfg = compose_with(overrides)
    OmegaConf.to_container(cfg, resolve=True)  # raises on a broken interpolation


@pytest.mark.parametrize("name", options("experiment"))
def test_every_experiment_composes(name):
    cfg = compose_with([f"+experiment={name}"])
    OmegaConf.to_container(cfg, resolve=True)


def test_experiment_is_not_a_root_default():
    root = OmegaConf.load(CONF / "train.yaml")
    assert not any("experiment" in str(d) for d in root.defaults)
    assert set(GROUPS) <= {next(iter(d)).split("@")[0] for d in root.defaults if hasattr(d, "keys")}


def test_deepspeed_batch_keys_come_from_the_loop_not_the_yaml():
    from funcall.trainers.ds_config import DERIVED, cpu_autocast, cpu_has_bf16, deepspeed_config
    from funcall.utils.errors import ConfigError

    for path in (CONF / "deepspeed").glob("*.yaml"):
        assert "${" not in path.read_text(), f"{path.name} interpolates: the loop fills those keys in"
    cfg = compose_with(["deepspeed=zero3"])
    assert not set(DERIVED) & set(cfg.deepspeed) and "bf16" not in cfg.deepspeed
    ds = deepspeed_config(cfg.deepspeed, micro_batch_size=3, grad_accum=5, max_grad_norm=1.0, precision="auto")
    assert ds["train_micro_batch_size_per_gpu"] == 3 and ds["gradient_accumulation_steps"] == 5
    assert ds["gradient_clipping"] == 1.0 and ds["bf16"]["enabled"] is False  # DeepSpeed bf16 is for GPUs
    assert ds["zero_optimization"]["stage"] == 3
    # on a CPU, bf16 is torch.autocast around fp32 weights, never DeepSpeed's bf16 weights
    assert deepspeed_config(cfg.deepspeed, precision="bf16")["bf16"]["enabled"] is torch.cuda.is_available()
    assert cpu_autocast("fp32") is False and cpu_autocast("auto") is False  # auto is fp32 on a CPU (README)
    assert cpu_autocast("bf16") is (cpu_has_bf16() and not torch.cuda.is_available())
    # inference (the RL reference, funcall.evaluate): no optimizer offload; ZeRO-1/2 run as stage 0
    offload = compose_with(["deepspeed=zero3_offload"]).deepspeed
    assert "offload_optimizer" not in deepspeed_config(offload, inference=True)["zero_optimization"]
    assert deepspeed_config(compose_with(["deepspeed=zero2"]).deepspeed, inference=True)["zero_optimization"] == {"stage": 0}
    with pytest.raises(ConfigError, match="train_micro_batch_size_per_gpu"):
        deepspeed_config(compose_with(["+deepspeed.train_micro_batch_size_per_gpu=4"]).deepspeed)
    with pytest.raises(ConfigError, match="precision"):
        deepspeed_config(cfg.deepspeed, precision="fp8")


def test_zero_configs_compose_from_one_base():
    base = OmegaConf.to_container(compose_with(["deepspeed=zero0"]).deepspeed)
    for name in ("zero2", "zero3", "zero3_offload"):
        ds = OmegaConf.to_container(compose_with([f"deepspeed={name}"]).deepspeed)
        assert {k: v for k, v in ds.items() if k != "zero_optimization"} | {"zero_optimization": {}} == \
            {k: v for k, v in base.items() if k != "zero_optimization"} | {"zero_optimization": {}} | \
            ({"zero_force_ds_cpu_optimizer": False} if name == "zero3_offload" else {})
        assert "steps_per_print" not in (CONF / "deepspeed" / f"{name}.yaml").read_text()  # said once, in zero0


KEY = re.compile(r"^\s*(-\s+)?[\w.@/-]+\s*:")


@pytest.mark.parametrize("path", sorted(CONF.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONF)))
def test_every_yaml_key_has_a_comment(path):
    lines = path.read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        if not KEY.match(line) or line.lstrip().startswith("#"):
            continue
        if line.strip() in ("defaults:",) and i > 0 and lines[i - 1].lstrip().startswith("#"):
            continue
        previous = lines[i - 1].strip() if i else ""
        if "#" not in line and not previous.startswith("#"):
            missing.append(f"{i + 1}: {line.strip()}")
    assert not missing, f"{path.name}: keys without a comment:\n" + "\n".join(missing)


def test_rl_presets_oversample_no_call_but_a_data_choice_wins():
    """The RL presets pick data=synthetic_rl (30% no-call prompts, held-out mix untouched);
    `data=jsonl` on the command line still replaces it (the paper-scale command relies on this)."""
    for name in ("grpo", "entropy_grpo"):
        cfg = compose_with([f"+experiment={name}"])
        assert cfg.data.source.mix.irrelevance == 0.3 and "eval_mix" not in cfg.data.source
        cfg = compose_with([f"+experiment={name}", "data=jsonl", "data.path=/some/file"])
        assert cfg.data.source._target_.endswith("jsonl_source") and "mix" not in cfg.data.source


def test_users_own_config_dir_adds_groups_and_experiments(tmp_path):
    """``--config-dir`` (what README tells users to do for their own presets) adds to the
    package's tree: a user experiment composes on top of the shipped groups."""
    import subprocess
    import sys

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "my_grpo.yaml").write_text(
        "# @package _global_\ndefaults:\n  - grpo\n  - _self_\ntrainer:\n  max_steps: 7\ntags: [mine]\n")
    proc = subprocess.run([sys.executable, "-m", "funcall.train", "--config-dir", str(tmp_path), "+experiment=my_grpo",
                           "--cfg", "job"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.trainer.max_steps == 7 and list(cfg.tags) == ["mine"]
    shipped = compose_with(["+experiment=grpo"])  # the preset it extends, from the package's tree
    assert cfg.loss._target_ == shipped.loss._target_ and cfg.advantage._target_ == shipped.advantage._target_
