"""Prompts: the system message that lists the tools and asks for the answer format, and the style that renders with it.

Every example becomes a prompt through the tokenizer's own chat template (so a Hugging Face
model gets the turn markers it was tuned on) with a system message, written here in our own
words, that lists the tools and asks for reasoning in ``<think>...</think>`` followed by the
calls in BFCL's Python syntax. Two listing styles: ``json`` (one JSON function doc per line, as
BFCL's prompting mode shows them; the default for real models) and ``compact`` (one short
signature per line without descriptions, e.g. ``get_weather(city: str, unit?: "celsius"|"fahrenheit")``;
what the tiny model can afford in its context). For the JSON tool-call formats (``hermes``, ``openai``)
the tools go to the template as ``tools=`` instead, as those models expect.

`PromptStyle` is also how the single-turn loop (`funcall.agents.single_turn`, its held-out
evaluator `funcall.eval.heldout`) renders an example and reads an answer to it: its prompt ids,
its SFT sequence (`funcall.data.tokenize.encode_target`), the parse outcome of an answer, and the
held-out grading rules (``reward``, ``format_reward``; None: ``reward=ast_match`` and
``reward=format`` in the style's answer format). A plain style does all of it in its one answer
format, with one system prompt for every example. A data config whose examples each bring their
own prompt and answer format gives as ``data.prompt`` a subclass that overrides these
(``data=bfcl_format_sensitivity``: `funcall.data.format_sensitivity_source.FormatSensitivityPrompts`),
so no layer asks what kind of style or data it holds. The data layer never imports a reward: that
subclass's config node has Hydra build them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from funcall.calls import render_completion
from funcall.calls.parse_stats import text_outcome
from funcall.calls.types import KINDS, short_name
from funcall.data.schema import Example
from funcall.data.tokenize import Encoded, encode_target
from funcall.utils.errors import ConfigError

INSTRUCTIONS = {
    "think_answer": (
        "Think first inside <think></think>: name the tool and list the value of every argument "
        "you take from the request, then check that all required arguments are there. Then write "
        "the calls inside <answer></answer> as a Python list, for example "
        "<answer>[get_time(city='Oslo'), add(a=1, b=2)]</answer>. If no tool fits, answer "
        "<answer>[]</answer>."),
    "funreason": (
        "Think first inside <think></think>: name the tool and list the value of every argument "
        "you take from the request. Then, after a blank line, write the calls as a Python list, "
        "for example [get_time(city='Oslo'), add(a=1, b=2)]. If no tool fits, write []."),
    "python": (
        "Reply with the calls only, as a Python list, for example "
        "[get_time(city='Oslo'), add(a=1, b=2)]. If no tool fits, reply []."),
}
COMPACT_INSTRUCTIONS = {
    "think_answer": "Reply <think>...</think><answer>[calls]</answer>.",
    "funreason": "Reply <think>...</think> then [calls].",
    "python": "Reply [calls].",
}
JSON_TOOL_FORMATS = ("hermes", "openai")


@dataclass
class PromptStyle:
    """How prompts are written, and how the single-turn loop renders an example and reads an answer
    (module docstring). ``system_prompt`` may be a template using ``{tools}`` and
    ``{instructions}`` to replace ours entirely."""

    answer_format: str = "think_answer"
    tool_style: str = "json"
    system_prompt: str | None = None
    system_role: str = "system"  # user: the system text opens the first user message (templates without a system role)
    tool_role: str = "tool"  # user: tool results as user messages (templates without a tool role); funcall.data.template_roles

    def __post_init__(self):
        for key, value, native in (("system_role", self.system_role, "system"), ("tool_role", self.tool_role, "tool")):
            if value not in (native, "user"):
                raise ConfigError(f"data.prompt.{key}={value!r}: must be {native} or user")

    # The held-out grading rules (TRL-signature rewards): class attributes, not fields, so a plain
    # style has none (reward=ast_match / reward=format in answer_format); a subclass that renders
    # per example makes them fields that its data config fills.
    reward = None  # is the answer right (1/0 per answer)
    format_reward = None  # is it in the example's format

    @property
    def tools_via_template(self) -> bool:
        return self.answer_format in JSON_TOOL_FORMATS

    def prompt_ids(self, tokenizer, example: Example) -> list[int]:
        """The ids the model answers from (the chat template's generation prompt included)."""
        text = render_prompt(tokenizer, example.tools, example.messages, self)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode_sft(self, tokenizer, example: Example, max_length: int) -> Encoded:
        """The example's prompt, then its reasoning and calls in ``answer_format``, spans labelled."""
        think, call = render_completion(example.reasoning, example.calls, self.answer_format)
        return encode_target(tokenizer, self.prompt_ids(tokenizer, example), think, call, max_length)

    def outcome(self, text: str, meta: dict) -> str:
        """``unparseable``, ``no_call`` or ``calls`` (`funcall.calls.parse_stats`) of an answer to the
        example whose ``meta`` this is; here in ``answer_format`` whatever the example."""
        return text_outcome(text, self.answer_format)


def signature(tool: dict, describe: bool = True) -> str:
    params = (tool.get("parameters") or {})
    required = set(params.get("required") or [])
    parts = []
    for name, spec in (params.get("properties") or {}).items():
        if spec.get("enum"):
            kind = "|".join(json.dumps(v) for v in spec["enum"])
        else:
            kind = short_name(spec.get("type", "any"))
            if kind == "list" and isinstance(spec.get("items"), dict):
                item = spec["items"].get("type")
                kind = f"list[{short_name(item) if item in KINDS else 'any'}]"
        parts.append(f"{name}{'' if name in required else '?'}: {kind}")
    head = f"{tool['name']}({', '.join(parts)})"
    description = tool.get("description", "").strip()
    return f"{head} - {description}" if describe and description else head


def list_tools(tools: list[dict], style: str) -> str:
    if style == "compact":  # names and typed parameters only: the cheapest listing that still says it all
        return "\n".join(signature(t, describe=False) for t in tools)
    if style == "json":
        return "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
    raise ValueError(f"data.prompt.tool_style must be 'json' or 'compact', got {style!r}")


def system_prompt(tools: list[dict], style: PromptStyle) -> str:
    compact = style.tool_style == "compact"
    table = COMPACT_INSTRUCTIONS if compact else INSTRUCTIONS
    if style.answer_format not in table:
        raise ValueError(f"no prompt instructions for answer format {style.answer_format!r}")
    instructions = table[style.answer_format]
    listing = list_tools(tools, style.tool_style)
    if style.system_prompt:
        return style.system_prompt.format(tools=listing, instructions=instructions)
    if compact:
        return f"Tools:\n{listing}\n{instructions}"
    return ("You are an expert at calling functions. Given a request and a set of functions, decide "
            "which functions to call and with which arguments. Use only the functions listed; if "
            "none fits, or an argument the function needs is missing, call nothing.\n\n"
            f"Functions:\n{listing}\n\n{instructions}")


def fold_roles(messages: list[dict], system_role: str = "system", tool_role: str = "tool") -> list[dict]:
    """``messages`` with the system message and tool results turned into user messages as asked,
    consecutive messages of one role merged (`funcall.data.template_roles`). Unchanged with the defaults."""
    if system_role == "system" and tool_role == "tool":
        return list(messages)
    system = [m["content"] for m in messages if m.get("role") == "system"] if system_role == "user" else []
    out: list[dict] = []
    for m in messages:
        role = m.get("role")
        if role == "system" and system_role == "user":
            continue
        if role == "tool" and tool_role == "user":
            m = {"role": "user", "content": f"Tool result:\n{m.get('content', '')}"}
        if out and m["role"] == "user" == out[-1]["role"] and isinstance(m.get("content"), str):  # alternation
            out[-1] = {**out[-1], "content": f"{out[-1]['content']}\n\n{m['content']}"}
        else:
            out.append(dict(m))
    if system:
        head = "\n\n".join(system)
        if out and out[0]["role"] == "user":
            out[0] = {**out[0], "content": f"{head}\n\n{out[0]['content']}"}
        else:
            out.insert(0, {"role": "user", "content": head})
    return out


def chat_messages(tools: list[dict], messages: list[dict], style: PromptStyle) -> tuple[list[dict], Any]:
    """Messages (and the ``tools=`` argument) to hand to the chat template, their roles folded as
    ``style.system_role`` / ``style.tool_role`` say (`funcall.data.template_roles`)."""
    if style.tools_via_template:
        return fold_roles(messages, style.system_role, style.tool_role), [{"type": "function", "function": t} for t in tools]
    own = [m for m in messages if m.get("role") != "system"]
    # A request's own system message follows ours in the one system turn, as BFCL does.
    extra = [m["content"] for m in messages if m.get("role") == "system" and isinstance(m.get("content"), str)]
    msgs = [{"role": "system", "content": "\n\n".join([system_prompt(tools, style), *extra])}] + own
    return fold_roles(msgs, style.system_role, style.tool_role), None


def render_prompt(tokenizer, tools: list[dict], messages: list[dict], style: PromptStyle) -> str:
    """The prompt text, ending where the assistant's reply starts."""
    msgs, tool_arg = chat_messages(tools, messages, style)
    return tokenizer.apply_chat_template(msgs, tools=tool_arg, tokenize=False, add_generation_prompt=True)
