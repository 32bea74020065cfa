"""Multi-turn SFT targets: a whole task as one token sequence, the loss on the assistant's steps only.

`encode_multi_turn_sft` lays out a multi-turn task (`funcall.data.multi_turn_source`) exactly as a
multi-turn RL rollout builds its episode (`funcall.rollout.episode_driver`), so a model is fine-tuned on
the layout it is later sampled and scored in:

* the prompt: the chat template's rendering of the tools and the first turn's messages, ending with
  the generation prompt (`render_prompt`), span PROMPT;
* per assistant step, its target ``think + call`` (`funcall.calls.render_completion` in the run's
  answer format) plus the template's end-of-turn, tokenised in one piece with offsets as
  `funcall.data.tokenize.encode_sft` does (spans THINK / CALL);
* after each step but the last, the ids of what the conversation appended (the tool results, or
  the next turn's user messages) and the next generation prompt (`continuation_ids`), span PROMPT.

The steps of a turn are the task's ``steps`` (one per entry, the calls parsed from their strings,
keyword arguments only) with their ``reasoning`` texts, then a closing step without calls, which
ends the turn (its reasoning: the turn's only text for a turn answered without calls, else
``"The request is done."``). BFCL files have no steps: a turn with ground truth is one step of all
its calls (``"So: <the calls>"``), a turn without any a closing step saying nothing fits. The
targets drive a `funcall.envs.conversation.Conversation` on a live `BFCLEnvironment`, the class
evaluation and rollouts drive, and it must agree: each call step's results are appended, each
closing step ends its turn, and the conversation ends with the task's last turn (else a
`DataError` naming the entry). The assistant's closing replies (``entry["replies"]``, e.g. a
miss_param turn's clarifying question) are not part of the target: the answer formats have no
free-text slot, and BFCL grades calls only.

How it differs from the obvious version (render the whole conversation with the chat template and
put the loss on the assistant messages found by string search): a template may rewrite history
(Qwen3 drops the ``<think>`` of earlier assistant turns), so the rendered text is not what the
model sees when it generates a later step, and re-tokenising the whole text can merge ids across a
message boundary; string search also mislabels an assistant text that recurs in a tool result.
Here each piece is tokenised on its own, at the boundary the rollout has, and the labels come from
where the pieces are, not from searching. The sequence is cut at ``max_length`` (``truncated``).
"""
from __future__ import annotations

from dataclasses import dataclass

from funcall.calls import render_completion
from funcall.data.chat_continuation import continuation_ids
from funcall.data.multi_turn_source import multi_turn_task
from funcall.data.multi_turn_writer import describe
from funcall.data.prompts import PromptStyle, render_prompt
from funcall.data.schema import Example
from funcall.data.spans import CALL, PROMPT, THINK
from funcall.data.tokenize import Encoded, end_of_turn
from funcall.envs.conversation import Conversation, call_strings
from funcall.utils.errors import DataError

__all__ = ["DONE", "NOTHING_FITS", "Step", "encode_multi_turn_sft", "replay", "target_steps"]

DONE = "The request is done."  # the closing step of a turn that made calls
NOTHING_FITS = "None of the functions does what is asked, or a value is missing: I call nothing."  # BFCL's empty turns
NO_LIMIT = 10**9  # steps per turn: the ground truth is never force-quit


def _calls(entry_id: str, texts: list[str]) -> list[dict]:
    """Call strings -> ``{"name", "arguments"}`` dicts (keyword arguments only)."""
    from funcall.calls.limits import ParseFailure
    from funcall.envs.calls import parse_env_call

    calls = []
    for text in texts:
        call = parse_env_call(text)
        if isinstance(call, ParseFailure):
            raise DataError(f"multi-turn entry {entry_id!r}: cannot read the call {text!r} ({call.message or call.code})")
        if call.args:
            raise DataError(f"multi-turn entry {entry_id!r}: the call {text!r} has a positional argument "
                            "(targets need keyword arguments)")
        calls.append({"name": call.name, "arguments": dict(call.kwargs)})
    return calls


def target_steps(entry: dict, ground_truth: list[list[str]]) -> list[list[tuple[str, list[dict]]]]:
    """Turns -> the assistant steps of the target, ``(reasoning, calls)``; each turn ends with a
    step without calls (module docstring)."""
    entry_id = str(entry.get("id"))
    n_turns = len(entry["question"])
    turns: list[list[tuple[str, list[dict]]]] = []
    if "steps" in entry and "reasoning" in entry:
        if not len(entry["steps"]) == len(entry["reasoning"]) == n_turns:
            raise DataError(f"multi-turn entry {entry_id!r}: {n_turns} turns, {len(entry['steps'])} of steps, "
                            f"{len(entry['reasoning'])} of reasoning")
        for k, (steps, reasoning) in enumerate(zip(entry["steps"], entry["reasoning"])):
            if len(reasoning) != max(1, len(steps)):
                raise DataError(f"multi-turn entry {entry_id!r}, turn {k}: {len(steps)} steps but {len(reasoning)} "
                                "reasoning texts")
            plan = [(why, _calls(entry_id, step)) for step, why in zip(steps, reasoning)]
            turns.append(plan + [(reasoning[0] if not steps else DONE, [])])
        return turns
    if len(ground_truth) != n_turns:
        raise DataError(f"multi-turn entry {entry_id!r}: {n_turns} turns but {len(ground_truth)} of ground truth")
    for truth in ground_truth:
        if truth:
            reasoning = f"So: {'; '.join(describe(c) for c in truth)}."
            turns.append([(reasoning, _calls(entry_id, list(truth))), (DONE, [])])
        else:
            turns.append([(NOTHING_FITS, [])])
    return turns


@dataclass
class Step:
    """One assistant step of a replayed target: its text's two spans and the messages the
    conversation appended after it (``[]`` after the last step)."""

    think: str
    call: str
    new_messages: list[dict]


def replay(entry: dict, ground_truth: list[list[str]], answer_format: str) -> tuple[Conversation, list[Step]]:
    """Drive a `Conversation` on a fresh in-process `BFCLEnvironment` with the target steps
    (`target_steps`) rendered in ``answer_format``; the finished conversation and the steps. A
    `DataError` names the entry when the conversation does not agree with the plan."""
    from funcall.envs.bfcl_env import BFCLEnvironment

    entry_id = str(entry.get("id"))
    plan = target_steps(entry, ground_truth)
    conv = Conversation(entry=entry, env=BFCLEnvironment())
    steps: list[Step] = []
    try:
        conv.env.reset(entry)
        conv.start_turn()
        for k, turn in enumerate(plan):
            for reasoning, calls in turn:
                if conv.done:
                    raise DataError(f"multi-turn entry {entry_id!r}: the conversation ended before turn {k}'s steps")
                think, call = render_completion(reasoning, calls, answer_format)
                before = len(conv.messages)
                conv.take(think + call, answer_format, NO_LIMIT)
                new = conv.messages[before + 1:]
                if conv.output[k][-1] != call_strings(calls):
                    raise DataError(f"multi-turn entry {entry_id!r}, turn {k}: the target's calls read back as "
                                    f"{conv.output[k][-1]}, not {call_strings(calls)} (answer format {answer_format})")
                if calls and (conv.turn != k or [m["role"] for m in new] != ["tool"] * len(calls)):
                    raise DataError(f"multi-turn entry {entry_id!r}, turn {k}: a step's results were not appended")
                if not calls and conv.turn != k + 1:
                    raise DataError(f"multi-turn entry {entry_id!r}, turn {k}: a step without calls did not end the turn")
                steps.append(Step(think, call, new))
        if not conv.done or len(conv.output) != len(entry["question"]):
            raise DataError(f"multi-turn entry {entry_id!r}: the conversation has {len(conv.output)} turns, "
                            f"the entry {len(entry['question'])}")
    finally:
        conv.env.close()
    return conv, steps


def encode_multi_turn_sft(tokenizer, example: Example, style: PromptStyle, max_length: int) -> Encoded:
    """The task of ``example`` as one sequence with THINK / CALL spans on its assistant steps
    (module docstring); ``prompt_len`` is the first prompt's length."""
    task = multi_turn_task(example)
    if task is None:
        raise ValueError(f"{example.id}: not a multi-turn example")
    entry, truth = task
    _, steps = replay(entry, truth, style.answer_format)
    eot = end_of_turn(tokenizer)
    prompt_ids = tokenizer(render_prompt(tokenizer, entry["function"], entry["question"][0], style),
                           add_special_tokens=False)["input_ids"]
    ids, spans = list(prompt_ids), [PROMPT] * len(prompt_ids)
    for n, step in enumerate(steps):
        enc = tokenizer(step.think + step.call + eot, add_special_tokens=False, return_offsets_mapping=True)
        ids += enc["input_ids"]
        spans += [THINK if start < len(step.think) else CALL for start, _ in enc["offset_mapping"]]
        if n < len(steps) - 1:  # the conversation goes on: tool results or the next turn, the next prompt
            follow = continuation_ids(tokenizer, step.new_messages, style, closed_with=eot)
            ids += follow
            spans += [PROMPT] * len(follow)
    truncated = len(ids) > max_length
    return Encoded(ids[:max_length], spans[:max_length], len(prompt_ids), truncated)

