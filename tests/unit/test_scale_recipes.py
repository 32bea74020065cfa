"""Scale recipes apart from method presets (conf/scale/, conf/scale_recipe/, conf/experiment/).

A preset says the method; `scale=NAME` says how big. These tests check the split itself (no preset
carries a scale's numbers, every preset composes at every scale), the order in which they win
(recipe < preset < command line), that tiny_cpu leaves `make train` as it was, and that the papers'
scale, composed the way users launch it (`--cfg job`), has the settings docs/methods.md reports.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from omegaconf import OmegaConf
from test_config import CONF, compose_with, options

from conftest import REPO

PRESETS = options("experiment")
SCALES = options("scale")
# what a preset may set besides its defaults: the method (loss, advantage, reward, the answer format) and tags
METHOD_KEYS = ("loss.", "advantage.", "reward.", "data.prompt.", "tags")


def flat(node, prefix: str = "") -> dict:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("name", PRESETS)
def test_presets_say_the_method_only(name):
    keys = flat({k: v for k, v in yaml.safe_load((CONF / "experiment" / f"{name}.yaml").read_text()).items()
                 if k != "defaults"})
    scale_keys = [k for k in keys if not k.startswith(METHOD_KEYS)]
    assert not scale_keys, f"conf/experiment/{name}.yaml sets {scale_keys}: a scale's numbers go to conf/scale_recipe/"


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_composes_at_every_scale(name, scale):
    cfg = compose_with([f"+experiment={name}", f"scale={scale}"])
    OmegaConf.to_container(cfg, resolve=True)
    assert cfg.scale == scale


def test_recipe_then_preset_then_command_line():
    recipe = OmegaConf.load(CONF / "scale_recipe" / "tiny_cpu" / "single_turn_rl.yaml")
    cfg = compose_with(["+experiment=entropy_grpo"])
    for key, value in flat(OmegaConf.to_container(recipe)).items():  # the recipe reaches the run
        assert OmegaConf.select(cfg, key) == value, key
    assert cfg.loss.kl_coef == 1e-3  # the preset's method constant (conf/loss/policy.yaml says 0)
    cfg = compose_with(["+experiment=entropy_grpo", "optim.optimizer.lr=3e-5", "trainer.max_steps=7"])
    assert cfg.optim.optimizer.lr == 3e-5 and cfg.trainer.max_steps == 7
    cfg = compose_with(["+experiment=multi_turn_grpo"])  # picked by the agent the data config selects
    assert cfg.trainer.warm_start.steps == OmegaConf.load(
        CONF / "scale_recipe" / "tiny_cpu" / "multi_turn_rl.yaml").trainer.warm_start.steps


def test_a_scale_picks_its_groups_and_the_command_line_still_wins():
    cfg = compose_with(["+experiment=entropy_grpo", "scale=qwen2_5_coder_7b_8gpu"])
    assert cfg.model.path == "Qwen/Qwen2.5-Coder-7B-Instruct" and cfg.deepspeed.zero_optimization.stage == 3
    cfg = compose_with(["+experiment=entropy_grpo", "scale=qwen2_5_coder_7b_8gpu", "model=llama3_2_3b", "rollout=hf"])
    assert "Llama" in cfg.model.path and cfg.rollout.engine._target_.endswith("HFEngine")


def paper_settings() -> dict[str, float]:
    """The paper-scale numbers as docs/methods.md states them (so the doc and the recipe cannot drift apart)."""
    text = (REPO / "docs" / "methods.md").read_text()
    rl = re.search(r"\*\*Paper-scale settings\*\*.*?(?=\n\n)", text, re.S).group(0).replace("\n", " ")
    sft = re.search(r"SFT settings at paper scale.*?\n", text).group(0)

    def number(pattern: str, where: str) -> float:
        return float(re.search(pattern, where).group(1).replace(",", ""))
    return {"lr": number(r"learning rate ([\d.e-]+)", rl), "temperature": number(r"temperature ([\d.]+)", rl),
            "kl": number(r"KL coefficient ([\d.e-]+)", rl), "max_response": number(r"up to ([\d,]+) tokens", rl),
            "prompts": number(r"([\d,]+) prompts", rl), "rollouts_max": number(r"to (\d+) rollouts", rl),
            "clip": number(r"clip ([\d.]+)", rl), "steps": number(r"about (\d+) steps", rl),
            "sft_lr": number(r"lr ([\d.e-]+)", sft), "sft_warmup": number(r"warm-up ([\d.]+)", sft),
            "sft_batch": number(r"global batch (\d+)", sft)}


def cfg_job(args: list[str]) -> dict:
    """The composed config as `python -m funcall.train ARGS --cfg job` prints it."""
    out = subprocess.run([sys.executable, "-m", "funcall.train", *args, "--cfg", "job"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return yaml.safe_load(out.stdout)


def test_the_papers_scale_composes_to_the_papers_settings():
    paper = paper_settings()
    rl = cfg_job(["+experiment=entropy_grpo", "scale=qwen2_5_coder_7b_8gpu", "data=xlam", "data.path=train.json"])
    assert rl["model"]["path"] == "Qwen/Qwen2.5-Coder-7B-Instruct" and rl["trainer"]["warm_start"] is None
    assert float(rl["optim"]["optimizer"]["lr"]) == paper["lr"]
    assert rl["rollout"]["temperature"] == paper["temperature"] and float(rl["loss"]["kl_coef"]) == paper["kl"]
    assert rl["rollout"]["max_new_tokens"] == paper["max_response"]
    assert 5 <= rl["rollout"]["num_generations"] <= paper["rollouts_max"]
    assert rl["trainer"]["prompts_per_step"] == paper["prompts"] and rl["trainer"]["max_steps"] == paper["steps"]
    assert rl["loss"]["eps_low"] == rl["loss"]["eps_high"] == paper["clip"]
    assert (rl["advantage"]["coef"], rl["advantage"]["alpha"]) == (0.4, 2.0)  # lambda and alpha (docs/methods.md)
    assert rl["deepspeed"]["zero_optimization"]["stage"] == 3 and rl["trainer"]["precision"] == "bf16"
    assert rl["rollout"]["engine"]["_target_"].endswith("VLLMEngine") and rl["model"]["gradient_checkpointing"]

    sft = cfg_job(["+experiment=funreason_srml", "scale=qwen2_5_coder_7b_8gpu", "data=xlam", "data.path=train.json"])
    assert float(sft["optim"]["optimizer"]["lr"]) == paper["sft_lr"]
    assert sft["optim"]["scheduler"]["warmup_ratio"] == paper["sft_warmup"]
    assert sft["trainer"]["micro_batch_size"] * sft["trainer"]["grad_accum"] * 8 == paper["sft_batch"]
    assert sft["loss"]["_target_"].endswith("SRMLLoss") and sft["data"]["prompt"]["answer_format"] == "funreason"


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("agent", options("agent"))
@pytest.mark.parametrize("trainer", options("trainer"))
def test_every_agent_and_trainer_has_a_recipe_at_every_scale(scale, agent, trainer):
    cfg = compose_with([f"scale={scale}", f"agent={agent}", f"trainer={trainer}"])
    assert cfg.scale == scale and cfg.trainer.max_steps >= 1
