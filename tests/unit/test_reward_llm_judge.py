"""reward=llm_judge: a judge on loopback scores completions; failures and timeouts are None; it mixes
with ast_match by weight; its config composes alone and inside reward=mix."""
from __future__ import annotations

import time

import pytest
from hydra import compose, initialize_config_dir

import funcall.train  # noqa: F401 - registers the resolvers the train config uses
from conftest import REPO
from funcall.judges.base import JudgeUnavailable
from funcall.judges.openai_judge import OpenAIJudge
from funcall.judges.scripted_server import ChatServer, Reply
from funcall.rewards.ast_match import AstMatchReward
from funcall.rewards.base import RewardFunction
from funcall.rewards.llm_judge import LLMJudgeReward
from funcall.rewards.mix import MixReward
from funcall.utils.instantiate import instantiate

TOOLS = [{"name": "get_weather", "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
ANSWER = [{"get_weather": {"city": ["Oslo"]}}]
RIGHT = "<think>city is Oslo</think><answer>[get_weather(city='Oslo')]</answer>"
WRONG = "<think>city is Rome</think><answer>[get_weather(city='Rome')]</answer>"


def grader(request) -> Reply:
    reply = request.user.split("Reply:\n", 1)[1]
    if "slow" in reply:
        return Reply("<score>1.0</score>", delay_s=6.0)
    if "garbage" in reply:
        return Reply("It is fine, I suppose.")
    if "broken" in reply:
        return Reply(status=500)
    return Reply("<score>1.0</score>" if "Oslo" in reply else "<score>0.25</score>")


def reward_for(server, **options) -> LLMJudgeReward:
    judge = OpenAIJudge(server.url, "grader", api_key_env=None, timeout_s=5, max_retries=1, backoff_s=0.01)
    return LLMJudgeReward(judge, **options)


def columns(n: int) -> dict:
    return {"tools": [TOOLS] * n, "possible_answer": [ANSWER] * n, "category": ["simple_python"] * n}


def test_scores_completions_given_tools_request_and_reference():
    prompts = [[{"role": "system", "content": "SYSTEM PROMPT"}, {"role": "user", "content": "Weather in Oslo?"}]] * 3
    with ChatServer(grader) as server:
        reward = reward_for(server)
        assert isinstance(reward, RewardFunction) and reward.__name__ == "llm_judge"
        scores = reward(prompts, [RIGHT, WRONG, RIGHT], **columns(3))
    assert scores == [1.0, 0.25, 1.0]
    assert len(server.requests) == 2  # the repeated completion is asked once
    user = next(body["messages"][1]["content"] for body in server.requests if RIGHT in body["messages"][1]["content"])
    assert "get_weather" in user and '{"get_weather": {"city": ["Oslo"]}}' in user and "user: Weather in Oslo?" in user
    assert "SYSTEM PROMPT" not in user


def test_failures_and_timeouts_are_none_or_on_failure():
    completions = [RIGHT, "garbage", "broken", "slow"]
    with ChatServer(grader) as server:
        reward = reward_for(server, timeout_s=2.0, attempts=2)
        t0 = time.time()
        scores = reward(["Weather in Oslo?"] * 4, completions, **columns(4))
        elapsed = time.time() - t0
        assert scores == [1.0, None, None, None] and reward.last_failures == 3
        assert elapsed < 4.5  # the slow reply does not hold the batch beyond timeout_s
        floor = reward_for(server, timeout_s=2.0, attempts=2, on_failure=0.0)
        assert floor(["q"] * 2, [WRONG, "garbage"], **columns(2)) == [0.25, 0.0]
    assert server.count(lambda r: "garbage" in r.user) == 2 + 2  # attempts=2, in each of the two rewards


def test_mixes_with_ast_match_by_weight():
    with ChatServer(grader) as server:
        mix = MixReward({"ast_match": AstMatchReward(), "llm_judge": reward_for(server)}, {"ast_match": 1.0, "llm_judge": 0.5})
        values = mix(["Weather in Oslo?"] * 3, [RIGHT, WRONG, "garbage"], **columns(3))
    assert values == [1.5, 0.125, 0.0]  # garbage: the judge abstains, ast_match's 0 carries the full weight
    assert mix.last_components == {"ast_match": [1.0, 0.0, 0.0], "llm_judge": [1.0, 0.25, None]}


def test_a_judge_that_refuses_the_key_stops_training():
    with ChatServer(lambda r: Reply(status=401)) as server, pytest.raises(JudgeUnavailable):
        reward_for(server)(["q"], [RIGHT], **columns(1))


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def test_config_alone_and_in_a_mix():
    with ChatServer(grader) as server:
        alone = compose_train(["reward=llm_judge", f"reward.judge.base_url={server.url}", "reward.judge.model=grader",
                               "reward.judge.api_key_env=null"])
        reward = instantiate(alone.reward, _key="reward")
        assert isinstance(reward, LLMJudgeReward) and reward(["Weather in Oslo?"], [RIGHT], **columns(1)) == [1.0]
        # The combination shown in conf/reward/llm_judge.yaml's comments.
        mixed = compose_train(["reward=mix", "+reward@reward.rewards.llm_judge=llm_judge", "+reward.weights.llm_judge=0.5",
                               "~reward.rewards.format", "~reward.weights.format",
                               f"reward.rewards.llm_judge.judge.base_url={server.url}",
                               "reward.rewards.llm_judge.judge.model=grader", "reward.rewards.llm_judge.judge.api_key_env=null"])
        mix = instantiate(mixed.reward, _key="reward")
        assert mix.names == ["ast_match", "llm_judge"] and mix.weights == [1.0, 0.5]
        assert mix(["Weather in Oslo?"], [WRONG], **columns(1)) == [1.0 * 0.0 + 0.5 * 0.25]
