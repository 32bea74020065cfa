"""`funcall.data.length_budget` by hand: an over-long example is an error naming it, or is
replaced by a stand-in that depends only on where it was drawn; never cut."""
from __future__ import annotations

import pytest

from funcall.data.length_budget import MAX_DRAWS, LengthBudget, draw_fitting
from funcall.data.sampler import GlobalSampler
from funcall.utils.errors import DataError

LENGTHS = {i: 10 * (i % 5) for i in range(100)}  # example i has 0, 10, 20, 30 or 40 tokens


def draw(budget, indices, sampler, step=0):
    return draw_fitting(indices, lambda i: (i, LENGTHS[i]), lambda item: item[1], budget,
                        lambda slot, attempt: sampler.stand_in(step, slot, attempt), lambda i: f"ex{i}")


def test_error_names_the_example_its_length_and_the_option():
    with pytest.raises(DataError, match=r"example ex4: its prompt has 40 tokens, over the 25-token budget "
                                        r"\(trainer.max_prompt_length\).*trainer.overlong=skip"):
        draw(LengthBudget(25, "trainer.max_prompt_length"), [1, 2, 4], GlobalSampler(100, seed=0))


def test_skip_replaces_over_long_examples_by_the_same_stand_ins_every_time():
    sampler = GlobalSampler(100, seed=0)
    budget = LengthBudget(25, "trainer.max_prompt_length", overlong="skip")
    kept, skipped = draw(budget, [1, 3, 4, 8, 2], sampler)
    assert len(kept) == 5 and all(n <= 25 for _, n in kept) and skipped >= 3  # 3, 4 and 8 are over
    assert [i for i, _ in kept][:1] == [1] and kept[4] == (2, 20)  # the ones that fit stay where they were
    assert draw(LengthBudget(25, "x", overlong="skip"), [1, 3, 4, 8, 2], GlobalSampler(100, seed=0)) == (kept, skipped)
    other, _ = draw(LengthBudget(25, "x", overlong="skip"), [1, 3, 4, 8, 2], GlobalSampler(100, seed=0), step=1)
    assert other != kept  # another step draws other stand-ins
    assert draw(LengthBudget(None, "x"), [4, 4], sampler) == ([(4, 40), (4, 40)], 0)  # no limit: nothing checked


def test_data_that_almost_never_fits_is_an_error_not_an_endless_search():
    sampler = GlobalSampler(100, seed=0)
    with pytest.raises(DataError, match=f"{MAX_DRAWS} examples drawn in a row"):
        draw(LengthBudget(-1, "trainer.max_length", overlong="skip", what="prompt + target"), [1], sampler)


def test_the_context_is_the_engines_max_model_len_when_it_is_smaller_than_the_models():
    """vLLM with ``rollout.engine.max_model_len`` accepts shorter sequences than the model: prompt
    budgets (and what evaluation counts as not run) must be computed against that, not the model's."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from funcall.models.load import context_length

    model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=8192))
    assert context_length(model, OmegaConf.create({"max_model_len": 1024})) == 1024
    assert context_length(model, OmegaConf.create({"max_model_len": None})) == 8192
    assert context_length(model, OmegaConf.create({"batch_size": 64})) == 8192  # the HF engine has no such key
    assert context_length(model, OmegaConf.create({"max_model_len": 16384})) == 8192
    assert context_length(SimpleNamespace(config=SimpleNamespace()), None) is None
