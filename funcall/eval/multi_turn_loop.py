"""BFCL's multi-turn inference, batched: every live conversation generates its next step together.

Per entry, as BFCL's ``inference_multi_turn_prompting`` does it: the first turn's user messages
start the conversation; the model answers; its calls (decoded in the run's answer format) are
executed on the entry's environment and each result is appended as a ``tool`` message; the model
answers again, until an answer holds no call (or does not decode), which ends the turn; the next
turn's user messages are appended (on a miss_func turn, BFCL's fixed text offering the withheld
functions' docs). More than ``max_steps_per_turn`` steps with calls in one turn end the entry
(BFCL's force-quit, scored as ``multi_turn:force_terminated`` unless it was the last turn).

How it differs from BFCL's loop, which handles one entry at a time and re-renders the whole
conversation with the chat template before every step: all of a rank's entries are in flight at
once, and a conversation is continued token by token, as training continues its episodes
(`funcall.trainers.episodes`): its ids are the first prompt's, then each answer's ids exactly as
generated, then only the ids of what was added (tool results, the next user turn, the template's
opening of the next answer; `funcall.data.chat_continuation`). With a template that rewrites
history (Qwen3 drops earlier turns' ``<think>``), re-rendering would evaluate the model in a
context it was never trained in. Each round the waiting conversations go to the rollout engine in
length-sorted batches (`funcall.eval.task.generate_in_step`); rounds go on while any rank has a
conversation left, so every rank makes the same generation calls (ZeRO-3). A conversation whose prompt no longer fits
the context (minus the answer budget) ends there (``ended_by`` ``prompt_too_long``), as an
overflow ends it in BFCL; if that was its first prompt, nothing ran at all (`never_ran`), and the
callers count it as not run and wrong instead of handing BFCL's checker an empty conversation.
The progress bar moves once per conversation when it ends, however it ends. The environments
run in the child process of a `funcall.envs.worker.EnvPool`.
"""
from __future__ import annotations

from funcall.data.chat_continuation import continuation_ids, stop_texts
from funcall.data.prompts import PromptStyle, render_prompt
from funcall.dist import all_reduce_sum
from funcall.envs.conversation import Conversation
from funcall.eval.task import generate_in_step


def converse(engine, tokenizer, conversations: list[Conversation], style: PromptStyle, *, batch_size: int,
             max_new_tokens: int, max_steps_per_turn: int, prompt_limit: int | None, progress=None) -> None:
    """Run every conversation to its end (module docstring); collective over ranks."""
    stops = stop_texts(tokenizer)
    context: dict[int, list[int]] = {}  # id(conversation) -> the ids it has so far, token by token
    for c in conversations:
        c.env.reset(c.entry)
        c.start_turn()
        context[id(c)] = tokenizer(render_prompt(tokenizer, c.entry["function"], c.messages, style),
                                   add_special_tokens=False)["input_ids"]
    while True:
        waiting = []
        for c in (c for c in conversations if not c.done):
            if prompt_limit is not None and len(context[id(c)]) > prompt_limit:
                c.done, c.ended_by = True, "prompt_too_long"
                if progress is not None:
                    progress.update(1)
                continue
            waiting.append(c)
        if all_reduce_sum([float(len(waiting))])[0] == 0:
            return
        completions = generate_in_step(engine, [context[id(c)] for c in waiting], batch_size=batch_size,
                                       max_new_tokens=max_new_tokens)
        for c, step in zip(waiting, completions):
            before = len(c.messages)
            c.take(tokenizer.decode(step, skip_special_tokens=True), style.answer_format, max_steps_per_turn)
            if c.done:
                if progress is not None:
                    progress.update(1)
                continue
            closed = stops.get(step[-1]) if step else None
            context[id(c)] += list(step) + continuation_ids(tokenizer, c.messages[before + 1:], style, closed_with=closed)


def never_ran(c: Conversation) -> bool:
    """The conversation ended on its first prompt (over the limit): the model answered nothing."""
    return c.ended_by == "prompt_too_long" and not any(c.output)
