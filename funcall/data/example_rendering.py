"""How a single-turn example becomes prompt ids and an SFT sequence, and how an answer to it is read.

This is the single-turn loop's plug-in point (`funcall.agents.single_turn`, its held-out evaluator
`funcall.eval.heldout`). `funcall.data.prompts.PromptStyle` writes one system prompt for every
example and reads every answer in its one ``answer_format``; `StyleRendering` is that, and the
default. A data config whose examples each bring their own prompt and answer format gives as
``data.prompt`` a PromptStyle subclass that also implements `ExampleRendering` (the format-sensitivity
data, `funcall.data.format_sensitivity_source.FormatSensitivityPrompts`); `rendering(style)` is the
one place that tells them apart, so no layer branches on the kind of data.

The held-out grading travels with the rendering as two TRL-signature rewards: ``reward`` (is the
answer right: 1/0) and ``format_reward`` (is it in the example's format). None means the rules of
``reward=ast_match`` and ``reward=format`` in the style's answer format. The data layer never
imports a reward: a data config's ``data.prompt`` node has Hydra build them.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from funcall.calls.parse_stats import text_outcome
from funcall.data.prompts import PromptStyle
from funcall.data.schema import Example
from funcall.data.tokenize import Encoded, encode_prompt, encode_sft

__all__ = ["ExampleRendering", "StyleRendering", "rendering"]


@runtime_checkable
class ExampleRendering(Protocol):
    reward: Any  # held-out correctness (TRL signature, 1/0 per answer); None: ast_match in the answer format
    format_reward: Any  # held-out "in the format" (TRL signature); None: the format reward of the answer format

    def prompt_ids(self, tokenizer, example: Example) -> list[int]:
        """The ids the model answers from (the chat template's generation prompt included)."""
        ...

    def encode_sft(self, tokenizer, example: Example, max_length: int) -> Encoded:
        """The example's prompt and its target answer, with span labels."""
        ...

    def outcome(self, text: str, meta: dict) -> str:
        """``unparseable``, ``no_call`` or ``calls`` (`funcall.calls.parse_stats`) of an answer to
        the example whose ``meta`` this is."""
        ...


class StyleRendering:
    """One `PromptStyle` for every example: the prompts and targets of `funcall.data.tokenize`."""

    reward = None
    format_reward = None

    def __init__(self, style: PromptStyle):
        self.style = style

    def prompt_ids(self, tokenizer, example: Example) -> list[int]:
        return encode_prompt(tokenizer, example, self.style)

    def encode_sft(self, tokenizer, example: Example, max_length: int) -> Encoded:
        return encode_sft(tokenizer, example, self.style, max_length)

    def outcome(self, text: str, meta: dict) -> str:
        return text_outcome(text, self.style.answer_format)


def rendering(style: PromptStyle) -> ExampleRendering:
    """``style`` itself when it renders per example, else `StyleRendering` of it."""
    return style if isinstance(style, ExampleRendering) else StyleRendering(style)
