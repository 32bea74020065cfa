"""The token ids that continue a conversation after an assistant step, as the chat template writes them.

A multi-turn episode is trained on one token sequence: the prompt's ids, the ids the policy
sampled exactly as sampled, and, between steps, the ids of what the environment and the user add
(tool results, the next user turn) followed by the template's opening of the next assistant
message. `continuation_ids` gives those in-between ids. Multi-turn SFT (`funcall.data.
multi_turn_tokenize`) and multi-turn rollouts (`funcall.rollout.episode_driver`) both build their
sequences with it, so a model is fine-tuned on the layout it is later sampled in.

How it differs from the obvious version (re-render the whole conversation with the chat template
after every step and tokenise it again): re-rendering re-tokenises the sampled text, and BPE does
not always give back the ids that were sampled (``"ab"`` sampled as ``a``+``b`` comes back as the
single token ``ab``), so the trainer would score ids the policy never produced; some templates
also rewrite history (Qwen3 drops the ``<think>`` of earlier assistant turns), so the re-rendered
prefix is not even the text the policy was conditioned on. Here only the new messages are
rendered, after a fixed dummy conversation whose assistant message is a marker: the text after
the marker's own end-of-message is the continuation, whatever the real history holds. When the
sampled step ended with the end-of-turn token, that token is not added again; when it was cut by
the token budget, the template's whole end-of-message is added (as context, never trained on).
"""
from __future__ import annotations

from dataclasses import astuple
from functools import lru_cache

from funcall.data.prompts import PromptStyle, chat_messages
from funcall.data.tokenize import end_of_turn
from funcall.utils.errors import ConfigError

MARKER = "XQZJ-funcall-step"  # a dummy assistant message no template rewrites
BASE = [{"role": "user", "content": "u"}, {"role": "assistant", "content": MARKER}]


def _render(tokenizer, messages: list[dict], style: PromptStyle, generation_prompt: bool) -> str:
    msgs, tool_arg = chat_messages([], messages, style)
    return tokenizer.apply_chat_template(msgs, tools=tool_arg, tokenize=False, add_generation_prompt=generation_prompt)


@lru_cache(maxsize=64)
def _close(tokenizer, style_key: tuple) -> str:
    """The text the template writes after an assistant message's content (``<|im_end|>\\n``)."""
    style = PromptStyle(*style_key)
    text = _render(tokenizer, BASE, style, False)
    return text[text.rindex(MARKER) + len(MARKER):]


def continuation_text(tokenizer, new_messages: list[dict], style: PromptStyle, *, closed_with: str | None) -> str:
    """The text after an assistant step: the rest of its end-of-message (all of it unless the step
    ended with the text ``closed_with``, its last sampled token, which the template's end-of-message
    starts with), then ``new_messages`` (tool results, a user turn) and the generation prompt."""
    key = astuple(style)  # hashable, for the cache
    close = _close(tokenizer, key)
    after = _render(tokenizer, BASE + list(new_messages), style, True)
    at = after.rfind(MARKER)
    if at < 0 or not after[at + len(MARKER):].startswith(close):
        raise ConfigError(f"the chat template of {tokenizer.name_or_path!r} rewrites an assistant message when "
                          "messages follow it: multi-turn training cannot continue its conversations token by token")
    tail = after[at + len(MARKER) + len(close):]
    if closed_with and close.startswith(closed_with):
        close = close[len(closed_with):]
    return close + tail


def continuation_ids(tokenizer, new_messages: list[dict], style: PromptStyle, *, closed_with: str | None) -> list[int]:
    """`continuation_text` as token ids (no special tokens added: the template's are in the text)."""
    text = continuation_text(tokenizer, new_messages, style, closed_with=closed_with)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def stop_texts(tokenizer) -> dict[int, str]:
    """Ids that end a sampled step (EOS, the template's end-of-turn) -> their text: the
    ``closed_with`` of `continuation_ids` when a step ends with one of them."""
    ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(end_of_turn(tokenizer))} - {None, tokenizer.unk_token_id}
    return {i: tokenizer.decode([i]) for i in ids}
