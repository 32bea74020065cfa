"""BFCL's multi-turn inference, batched: every live conversation generates its next step together.

Per entry, as BFCL's ``inference_multi_turn_prompting`` does it: the first turn's user messages
start the conversation; the model answers; its calls (decoded in the run's answer format) are
executed on the entry's environment and each result is appended as a ``tool`` message; the model
answers again, until an answer holds no call (or does not decode), which ends the turn; the next
turn's user messages are appended (on a miss_func turn, BFCL's fixed text offering the withheld
functions' docs). More than ``max_steps_per_turn`` steps with calls in one turn end the entry
(BFCL's force-quit, scored as ``multi_turn:force_terminated`` unless it was the last turn).

How it differs from BFCL's loop, which handles one entry at a time: all of a rank's entries are
in flight at once; each round, every conversation that is waiting for the model is rendered with
the chat template and the prompts go to the rollout engine in length-sorted batches
(`funcall.eval.task.generate_in_step`); rounds go on while any rank has a conversation left, so
every rank makes the same generation calls (ZeRO-3). A conversation whose prompt no longer fits
the context (minus the answer budget) ends there (``ended_by`` ``prompt_too_long``), as an
overflow ends it in BFCL; if that was its first prompt, nothing ran at all (`never_ran`), and the
callers count it as not run and wrong instead of handing BFCL's checker an empty conversation.
The progress bar moves once per conversation when it ends, however it ends. The environments
run in the child process of a `funcall.envs.worker.EnvPool`.
"""
from __future__ import annotations

from funcall.data.prompts import PromptStyle, render_prompt
from funcall.dist import all_reduce_sum
from funcall.envs.conversation import Conversation
from funcall.eval.task import generate_in_step


def converse(engine, tokenizer, conversations: list[Conversation], style: PromptStyle, *, batch_size: int,
             max_new_tokens: int, max_steps_per_turn: int, prompt_limit: int | None, progress=None) -> None:
    """Run every conversation to its end (module docstring); collective over ranks."""
    for c in conversations:
        c.env.reset(c.entry)
        c.start_turn()
    while True:
        live = [c for c in conversations if not c.done]
        prompts, waiting = [], []
        for c in live:
            ids = tokenizer(render_prompt(tokenizer, c.entry["function"], c.messages, style),
                            add_special_tokens=False)["input_ids"]
            if prompt_limit is not None and len(ids) > prompt_limit:
                c.done, c.ended_by = True, "prompt_too_long"
                if progress is not None:
                    progress.update(1)
                continue
            prompts.append(ids)
            waiting.append(c)
        if all_reduce_sum([float(len(prompts))])[0] == 0:
            return
        completions = generate_in_step(engine, prompts, batch_size=batch_size, max_new_tokens=max_new_tokens)
        for c, ids in zip(waiting, completions):
            c.take(tokenizer.decode(ids, skip_special_tokens=True), style.answer_format, max_steps_per_turn)
            if progress is not None and c.done:
                progress.update(1)


def never_ran(c: Conversation) -> bool:
    """The conversation ended on its first prompt (over the limit): the model answered nothing."""
    return c.ended_by == "prompt_too_long" and not any(c.output)
