"""The warm-start cache key: one cached SFT policy for every RL seed, a new one when what the SFT run sees changes."""
from __future__ import annotations

from test_config import compose_with

from funcall.trainers.warm_start import warm_start_key


def key(*overrides: str) -> str:
    return warm_start_key(compose_with(["+experiment=entropy_grpo", *overrides]))


def test_rl_only_settings_and_the_rl_seed_share_one_warm_start():
    base = key()
    assert key("seed=7") == base  # the data seed of the SFT run is trainer.warm_start.seed
    assert key("optim.optimizer.lr=1e-5", "loss.kl_coef=0.05", "trainer.max_steps=3") == base
    # the warm start's own mix replaces the RL prompts' mix, so an RL-only mix leaves it alone
    assert key("++data.source.mix={simple_python: 0.5, irrelevance: 0.5}") == base


def test_what_the_sft_run_sees_changes_the_key():
    base = key()
    assert key("trainer.warm_start.steps=10") != base
    assert key("trainer.warm_start.seed=1") != base
    assert key("trainer.warm_start.data.mix={simple_python: 1.0}") != base
    assert key("data.prompt.answer_format=funreason") != base
    assert key("model.tiny.hidden_size=64") != base
