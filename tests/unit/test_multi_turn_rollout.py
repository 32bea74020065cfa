"""Multi-turn rollouts (funcall.agents.multi_turn, on the one episode driver): token-in/token-out, masks, isolation, hostile calls.

`ScriptedEngine` is a `RolloutEngine` of our own (the Protocol, not a stand-in for torch or vLLM)
that answers each episode with the ids of texts the test chose, so what the trajectory must hold
is known exactly; the real Hugging Face engine on the tiny model runs the same loop at the end.
"""
from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from funcall.agents.base import Sampling
from funcall.agents.multi_turn import MultiTurn
from funcall.calls import render_completion
from funcall.data.chat_continuation import continuation_ids
from funcall.data.multi_turn_source import example_from_task
from funcall.data.multi_turn_synthetic import generate
from funcall.data.prompts import PromptStyle, render_prompt
from funcall.data.tokenize import end_of_turn
from funcall.envs.calls import parse_env_call
from funcall.rollout.engine import Rollouts

STYLE = PromptStyle(answer_format="think_answer", tool_style="compact")


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


class ScriptedEngine:
    """Row r of the rollout says ``texts[r][n]`` (+ end-of-turn) at its n-th step; rows are told
    apart by the tag ``<think>r{r} `` their first answer opens with (`tagged`)."""

    def __init__(self, tok, texts: list[list[str]]):
        self.tok, self.texts, self.said, self.calls = tok, texts, {}, []
        self.eot = tok.convert_tokens_to_ids(end_of_turn(tok))

    def sync_weights(self):
        pass

    def release(self):
        pass

    def row_of(self, seq: list[int], index: int, first: bool) -> int:
        if first:
            return index
        text = self.tok.decode(seq)
        return next(r for r in range(len(self.texts)) if f"<think>r{r} " in text)

    def generate(self, prompts, *, max_new_tokens, num_samples=1, temperature=1.0, top_p=1.0, greedy=False,
                 with_stats=False):
        first = not self.calls
        self.calls.append((len(prompts), num_samples))
        out = []
        for j, seq in enumerate(p for p in prompts for _ in range(num_samples)):
            row = self.row_of(seq, j, first)
            n = self.said.get(row, 0)
            self.said[row] = n + 1
            said = self.texts[row][min(n, len(self.texts[row]) - 1)]
            ids = said if isinstance(said, list) else self.tok(said, add_special_tokens=False)["input_ids"] + [self.eot]
            out.append(ids[:max_new_tokens])
        if not with_stats:
            return Rollouts(out)
        return Rollouts(out, [[-0.5] * len(x) for x in out], [[1.25] * len(x) for x in out])


def step_text(reasoning: str, calls: list[str]) -> str:
    dicts = []
    for c in calls:
        parsed = parse_env_call(c)
        dicts.append({"name": parsed.name, "arguments": dict(parsed.kwargs)})
    think, answer = render_completion(reasoning, dicts, STYLE.answer_format)
    return think + answer


def intended_texts(entry: dict) -> list[str]:
    """The answers that solve the task, in order: each step, then a no-call answer per turn."""
    out = []
    for turn_steps, reasons in zip(entry["steps"], entry["reasoning"]):
        out += [step_text(r, s) for r, s in zip(reasons, turn_steps)]
        out.append(step_text("done" if turn_steps else reasons[0], []))
    return out


def tagged(texts: list, row: int) -> list:
    first = texts[0]
    return [first.replace("<think>", f"<think>r{row} ", 1) if isinstance(first, str) else first, *texts[1:]]


def play(tok, tasks, texts, group, max_new_tokens=300, max_episode_tokens=6000, max_steps_per_turn=5,
         context_length=None):
    engine = ScriptedEngine(tok, [tagged(t, r) for r, t in enumerate(texts)])
    traj = collect_episodes(engine, tok, tasks, group=group, max_new_tokens=max_new_tokens,
                            max_steps_per_turn=max_steps_per_turn, max_episode_tokens=max_episode_tokens,
                            context_length=context_length)
    return traj, engine


def collect_episodes(engine, tok, tasks, *, group, max_new_tokens, max_steps_per_turn, max_episode_tokens,
                     context_length):
    """The multi-turn agent loop's collect on ``tasks`` (``(entry, ground truth)``), as a step runs it."""
    agent = MultiTurn(max_steps_per_turn=max_steps_per_turn, max_episode_tokens=max_episode_tokens, timeout_s=5)
    examples = [example_from_task(entry, truth) for entry, truth in tasks]
    try:
        return agent.collect(engine, tok, examples, [agent.prompt_ids(tok, e, STYLE) for e in examples], STYLE,
                             Sampling(group=group, max_new_tokens=max_new_tokens, temperature=1.0, top_p=1.0,
                                      with_stats=True), context_length)
    finally:
        agent.close()


def episodes(traj):
    return traj.columns["episode"]


def base_task(i0: int = 0):
    """A base-category synthetic task with at least two turns."""
    for i in range(i0, i0 + 200):
        entry, truth = generate(0, "train", i)
        if entry["category"] == "base" and len(entry["question"]) >= 2:
            return entry, truth
    raise AssertionError("no base task")


def task_with(cls: str, category: str = "base"):
    for i in range(400):
        entry, truth = generate(0, "train", i)
        if cls in entry["involved_classes"] and entry["category"] == category:
            return entry, truth
    raise AssertionError(f"no {category} task with {cls}")


def expected_sequence(tok, entry, texts):
    """The episode's ids built independently: prompt, then each answer's ids + EOT and what the
    template puts after it (tool results of its calls, run here on a fresh environment, or the
    next user turn), nothing after the last answer."""
    from funcall.envs.bfcl_env import BFCLEnvironment
    from funcall.envs.conversation import ADDITIONAL_FUNCTIONS

    env = BFCLEnvironment()
    env.reset(entry)
    eot_id = tok.convert_tokens_to_ids(end_of_turn(tok))
    seq = tok(render_prompt(tok, entry["function"], entry["question"][0], STYLE), add_special_tokens=False)["input_ids"]
    sampled = []
    k = 0
    for turn, (turn_steps, _) in enumerate(zip(entry["steps"], entry["reasoning"])):
        for calls in [*turn_steps, None]:
            ids = tok(texts[k], add_special_tokens=False)["input_ids"] + [eot_id]
            k += 1
            sampled.append((len(seq), len(ids)))
            seq += ids
            if calls is not None:
                new = [{"role": "tool", "content": r} for r in env.execute(calls)]
            elif turn + 1 < len(entry["question"]):
                new = entry["question"][turn + 1] or [{"role": "user", "content": "\n".join(
                    __import__("json").dumps(d) for d in env.tools(turn + 1)) + "\n" + ADDITIONAL_FUNCTIONS}]
            else:
                return seq, sampled
            seq += continuation_ids(tok, new, STYLE, closed_with=end_of_turn(tok))
    return seq, sampled


def test_the_trained_sequence_is_the_prompt_the_sampled_ids_and_the_appended_messages(tok):
    from funcall.bfcl.multi_turn import check_multi_turn
    from funcall.envs.bfcl_env import BFCLEnvironment

    entry, truth = base_task()
    texts = intended_texts(entry)
    traj, _ = play(tok, [(entry, truth)], [texts], group=1)
    row = tagged(texts, 0)
    want, sampled = expected_sequence(tok, entry, row)
    assert traj.prompt_ids[0] + traj.completion_ids[0] == want
    mask = [0.0] * len(want)
    for start, n in sampled:
        mask[start:start + n] = [1.0] * n
    p = len(traj.prompt_ids[0])
    assert traj.completion_mask[0, :len(want) - p].tolist() == mask[p:]
    ep = episodes(traj)[0]
    assert check_multi_turn(entry, truth, ep.output, BFCLEnvironment)["valid"]
    assert ep.ended_by == "completed" and len(ep.output) == len(truth)
    # every tool result of the episode lies in the unmasked (context) ids
    context = tok.decode([t for t, m in zip(traj.completion_ids[0], mask[p:]) if not m])
    results = [r for turn in ep.turns for m in turn for r in m.get("results", [])]
    assert results and all(r.strip()[:40] in context for r in results)
    # the rollout table's text of the episode (`Trajectory.texts`) is the whole episode: the sampled
    # steps with the tool results and the injected user turns between them
    shown = traj.texts[0]
    assert all(r.strip()[:40] in shown for r in results)
    assert shown.count("<|im_start|>tool") == len(results)
    assert shown.count("<|im_start|>user") == len(entry["question"]) - 1


def test_rendering_the_finished_conversation_gives_the_same_ids_when_each_step_was_canonical(tok):
    """Where the chat template's rendering equals the trained sequence, and where it does not."""
    from funcall.data.prompts import chat_messages

    entry, truth = base_task()
    texts = tagged(intended_texts(entry), 0)
    traj, _ = play(tok, [(entry, truth)], [texts], group=1)
    ours = traj.prompt_ids[0] + traj.completion_ids[0]
    messages = []  # the conversation: each turn's messages, each answer followed by its calls' results
    for m in (m for turn in episodes(traj)[0].turns for m in turn):
        messages.append({"role": m["role"], "content": m["content"]})
        messages += [{"role": "tool", "content": r} for r in m.get("results", [])]
    msgs, _ = chat_messages(entry["function"], messages, STYLE)
    rendered = tok(tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)["input_ids"]
    # equal up to the template's close of the last answer (the sequence ends at the sampled EOT)
    assert rendered[:len(ours)] == ours
    assert tok.decode(rendered[len(ours):]).strip() == ""
    # a step sampled as single characters decodes to the same text, but re-tokenising gives other ids:
    # the trajectory keeps the sampled ones
    first = texts[0]
    chars = [i for ch in first for i in tok(ch, add_special_tokens=False)["input_ids"]]
    assert tok.decode(chars) == first and chars != tok(first, add_special_tokens=False)["input_ids"]
    eot = tok.convert_tokens_to_ids(end_of_turn(tok))
    traj2, _ = play(tok, [(entry, truth)], [[chars + [eot], *texts[1:]]], group=1)
    p = len(traj2.prompt_ids[0])
    assert traj2.completion_ids[0][:len(chars) + 1] == chars + [eot]
    assert episodes(traj2)[0].output == episodes(traj)[0].output  # the same conversation
    assert traj2.prompt_ids[0] + traj2.completion_ids[0] != rendered[:p + len(traj2.completion_ids[0])]


def test_only_sampled_ids_reach_the_loss_the_kl_and_the_entropy_bonus(tok):
    from funcall.advantages.entropy import EntropyGuidedAdvantage
    from funcall.losses.policy import ClippedPolicyLoss

    entry, truth = base_task()
    texts = intended_texts(entry)
    traj, _ = play(tok, [(entry, truth)] * 2, [texts, texts[:1] + ["<think>no</think><answer>[]</answer>"] * 9], group=1)
    m, think = traj.completion_mask, traj.think_mask
    assert ((think == 1) <= (m == 1)).all()  # the think span lies in sampled ids
    # rollout stats sit on sampled ids only
    assert torch.equal(traj.old_logps != 0, m == 1) and torch.equal(traj.entropies != 0, m == 1)
    # the think span is the union of every step's <think> content
    ids = traj.completion_ids[0]
    in_think = tok.decode([t for t, f in zip(ids, think[0].tolist()) if f])
    for reasoning in [r for rs in entry["reasoning"] for r in rs]:
        assert reasoning[:30] in in_think
    assert "Error" not in in_think and "<|im_start|>" not in in_think
    # the entropy-guided bonus sees the think span: its entropy is exactly the sampled value there
    _, metrics = EntropyGuidedAdvantage()(torch.tensor([[1.0, 0.0]]), token_entropy=traj.entropies.view(2, -1),
                                          span_mask=think, completion_mask=m)
    assert metrics["adv/span_entropy_mean"] == pytest.approx(1.25)
    # the loss and the KL ignore whatever the masked ids hold
    loss = ClippedPolicyLoss(kl_coef=0.1, entropy_coef=0.01)
    adv = torch.tensor([1.0, -1.0])
    logps = traj.old_logps + 0.05 * m
    base, base_metrics = loss(logps, traj.old_logps, adv, m, ref_logps=traj.old_logps, entropy=traj.entropies)
    noise = torch.randn_like(logps) * (1 - m)
    moved, moved_metrics = loss(logps + noise, traj.old_logps, adv, m, ref_logps=traj.old_logps + noise,
                                entropy=traj.entropies + noise)
    assert moved.item() == pytest.approx(base.item()) and moved_metrics["kl"] == pytest.approx(base_metrics["kl"])
    one = torch.zeros_like(m)
    one[0, int(m[0].nonzero()[0])] = 1.0
    changed, _ = loss(logps + 0.5 * one, traj.old_logps, adv, m, ref_logps=traj.old_logps, entropy=traj.entropies)
    assert changed.item() != pytest.approx(base.item())
    metrics = MultiTurn().metrics(traj, STYLE.answer_format)
    total = sum(len(c) for c in traj.completion_ids)
    assert metrics["episode/tool_tokens_frac"] == pytest.approx(1 - float(m.sum()) / total)
    assert metrics["episode/turns_mean"] == len(truth)  # row 2 answers each turn without calls, and so reaches them all
    assert metrics["episode/calls_mean"] == pytest.approx((sum(map(len, truth)) + len(entry["steps"][0][0])) / 2)
    assert 0 < metrics["episode/tool_tokens_frac"] < 1
    # every step is in the format; each turn of both rows closes with a step that calls nothing
    assert metrics["rollout/unparseable"] == 0.0
    assert metrics["rollout/no_call_frac"] == pytest.approx(2 * len(truth) / sum(ep.steps for ep in episodes(traj)))


def test_the_samples_of_one_prompt_do_not_share_an_environment(tok):
    entry, truth = task_with("GorillaFileSystem")
    make = step_text("make it", ["mkdir(dir_name='only_in_sample_zero')"])
    look = step_text("look", ["ls(a=True)"])
    close = step_text("done", [])
    traj, engine = play(tok, [(entry, truth)], [[make, close], [look, close]], group=2)
    assert engine.calls[0] == (1, 2)  # the first round samples the shared prompt G times in one call
    zero, one = episodes(traj)
    listing = [r for turn in one.turns for m in turn for r in m.get("results", [])]
    assert listing and "only_in_sample_zero" not in listing[0]
    assert "only_in_sample_zero" in str(zero.final_state["GorillaFileSystem"])
    assert "only_in_sample_zero" not in str(one.final_state["GorillaFileSystem"])


def test_hostile_calls_in_an_episode_execute_nothing(tok, tmp_path):
    entry, truth = task_with("MathAPI")
    marker = tmp_path / "pwned"
    hostile = [
        f"<think>x</think><answer>[__import__('os').system('touch {marker}')]</answer>",
        f"<think>x</think><answer>[exec(source=\"open('{marker}', 'w')\")]</answer>",
        f"<think>x</think><answer>[eval(expression=\"open('{marker}', 'w')\"), os.system(command='touch {marker}')]</answer>",
        "<think>x</think><answer>[power(base=2**62, exponent=2**62)]</answer>",
        "<think>x</think><answer>[]</answer>",
    ]
    traj, _ = play(tok, [(entry, truth)], [hostile], group=1, max_steps_per_turn=10)
    ep = episodes(traj)[0]
    results = [r for turn in ep.turns for m in turn for r in m.get("results", [])]
    assert not marker.exists()
    assert results and all(r.startswith("Error during execution") for r in results)
    assert any("timed out" in r for r in results)


def test_budgets_end_episodes(tok):
    entry, truth = base_task()
    texts = intended_texts(entry)
    traj, _ = play(tok, [(entry, truth)], [texts], group=1, max_episode_tokens=120)
    assert episodes(traj)[0].ended_by == "episode_tokens" and len(traj.completion_ids[0]) <= 120
    again = step_text("again", [truth[0][0]])
    traj, _ = play(tok, [(entry, truth)], [[again]], group=1, max_steps_per_turn=2)
    ep = episodes(traj)[0]
    assert ep.ended_by == "force_quit" and len(ep.output[0]) == 3  # BFCL's rule: more than 2 steps with calls


def test_the_hf_engine_plays_episodes_whose_logprobs_the_trainer_reproduces(tok, tiny_model_dir):
    """The real engine: the log-probs read off generation equal a teacher-forced pass over the
    trained sequence at every sampled id (token-in/token-out, nothing re-tokenised)."""
    from transformers import AutoModelForCausalLM

    from funcall.rollout.hf import HFEngine
    from funcall.trainers.policy_forward import token_logps_and_entropy
    from funcall.trainers.rollout_layout import build_batch

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    engine = HFEngine(model, tok, batch_size=8)
    tasks = [base_task(0), task_with("GorillaFileSystem")]
    traj = collect_episodes(engine, tok, tasks, group=2, max_new_tokens=24, max_steps_per_turn=2,
                            max_episode_tokens=200, context_length=1024)
    assert traj.rows == 4 and len(episodes(traj)) == 4
    batch = build_batch(traj.prompt_ids, traj.completion_ids, tok.pad_token_id)
    with torch.no_grad():
        logps, _ = token_logps_and_entropy(model, batch)
    m = traj.completion_mask[:, :logps.shape[1]]
    assert m.sum() > 0
    gap = ((logps - traj.old_logps[:, :logps.shape[1]]).abs() * m).max().item()
    assert gap < 1e-3
