"""Chat templates that refuse a role: a one-line error naming the model, or the roles folded.

funcall renders every conversation through the model's own chat template, with a ``system``
message (the tool listing of the python-syntax formats) and, in multi-turn episodes, ``tool``
messages (the results of the calls). Not every template takes them: Gemma's has no system role
and wants user and assistant turns to alternate, Llama 2's raises on anything else, and such a
template fails deep inside Jinja with a traceback that names neither the model nor a way out.
Here:

* `check_template` renders, once and before anything heavy, the smallest conversation the run
  will render (system and user; for multi-turn data also an assistant step, a tool result and a
  second user turn) and turns a refusal into a one-line `ConfigError` naming the model, what its
  template refused and the options that work around it;
* `funcall.data.prompts.fold_roles` is that workaround, chosen by ``data.prompt.system_role=user`` (the system text
  opens the first user message) and ``data.prompt.tool_role=user`` (a tool result is a user
  message); messages of one role that end up next to each other are then merged into one, which
  templates with strict alternation need. Folding is a choice, never silent: the model then reads
  its tool results as user text, which is not how it was tuned.
"""
from __future__ import annotations

from funcall.data.prompts import render_prompt
from funcall.utils.errors import ConfigError

PROBES = {  # what is asked of the template -> the smallest conversation that asks it
    "a system message": [{"role": "user", "content": "q"}],  # chat_messages adds the system turn
    "a tool result after an assistant step": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                                              {"role": "tool", "content": "r"}],
    "a user turn after a tool result": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                                        {"role": "tool", "content": "r"}, {"role": "user", "content": "q2"}],
}


def check_template(tokenizer, style, multi_turn: bool, option: str = "data.prompt") -> None:
    """Raise a one-line `ConfigError` if the chat template refuses a conversation the run renders;
    ``option`` is where the run's prompt keys live (``eval.prompt`` for evaluation)."""
    from jinja2 import TemplateError

    asks = list(PROBES) if multi_turn else list(PROBES)[:1]
    tools = [{"name": "f", "description": "d", "parameters": {"type": "dict", "properties": {}}}]
    for what in asks:
        try:
            render_prompt(tokenizer, tools, PROBES[what], style)
        except (TemplateError, ValueError, KeyError, TypeError) as exc:
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(
                f"the chat template of {tokenizer.name_or_path!r} refuses {what} ({why}): set {option}.system_role=user "
                f"and {option}.tool_role=user to fold the system prompt and tool results into user messages "
                f"(docs/failures.md)", every_rank=True) from None
