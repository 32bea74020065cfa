"""Chat templates that refuse a role (issue 27, item 6): one line naming the model, or the roles folded.

`STRICT` is a template written for these tests in the manner of Gemma's and Llama 2's: no system
or tool role, and user and assistant turns must alternate, else it raises from inside Jinja.
"""
from __future__ import annotations

import shutil

import pytest
from transformers import AutoTokenizer

from conftest import read_metrics, run_train
from funcall.data.chat_continuation import continuation_ids
from funcall.data.prompts import PromptStyle, fold_roles, render_prompt
from funcall.data.template_roles import check_template
from funcall.utils.errors import ConfigError

STRICT = (
    "{%- for m in messages -%}"
    "{%- if m['role'] not in ['user', 'assistant'] -%}{{ raise_exception(m['role'] + ' role not supported') }}{%- endif -%}"
    "{%- if (m['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif -%}"
    "{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
NATIVE = PromptStyle(answer_format="think_answer", tool_style="compact")
FOLDED = PromptStyle(answer_format="think_answer", tool_style="compact", system_role="user", tool_role="user")
TOOLS = [{"name": "get_weather", "description": "d", "parameters": {"type": "dict", "properties": {}}}]


@pytest.fixture(scope="module")
def strict_tok(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = STRICT
    return tok


def test_fold_roles_by_hand():
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
            {"role": "tool", "content": "r1"}, {"role": "tool", "content": "r2"}, {"role": "user", "content": "q2"}]
    assert fold_roles(msgs) == msgs  # the defaults change nothing
    assert fold_roles(msgs, "user", "user") == [
        {"role": "user", "content": "S\n\nq"}, {"role": "assistant", "content": "a"},
        {"role": "user", "content": "Tool result:\nr1\n\nTool result:\nr2\n\nq2"}]
    assert fold_roles(msgs, "system", "user")[3] == {"role": "user", "content": "Tool result:\nr1\n\nTool result:\nr2\n\nq2"}
    with pytest.raises(ConfigError, match="data.prompt.tool_role='function'"):
        PromptStyle(tool_role="function")


def test_a_template_that_refuses_a_role_is_named_in_one_line(strict_tok, tiny_model_dir):
    with pytest.raises(ConfigError) as caught:
        check_template(strict_tok, NATIVE, multi_turn=False)
    message = str(caught.value)
    assert "\n" not in message and str(tiny_model_dir) in message and "refuses a system message" in message
    assert "system role not supported" in message and "data.prompt.system_role=user" in message
    only_system = PromptStyle(answer_format="think_answer", tool_style="compact", system_role="user")
    check_template(strict_tok, only_system, multi_turn=False)  # single-turn runs need no tool role
    with pytest.raises(ConfigError, match="refuses a tool result after an assistant step"):
        check_template(strict_tok, only_system, multi_turn=True)
    check_template(strict_tok, FOLDED, multi_turn=True)


def test_folded_roles_continue_a_conversation_token_by_token(strict_tok):
    """With the roles folded, the strict template renders an episode's continuations, and the prompt
    plus continuation equals the template's rendering of the whole conversation."""
    first = [{"role": "user", "content": "Weather in Oslo?"}]
    prompt = render_prompt(strict_tok, TOOLS, first, FOLDED)
    step = "<think>Oslo</think><answer>[get_weather(city='Oslo')]</answer>"
    eot = "<|im_end|>"
    new = [{"role": "tool", "content": "{'temp': 3}"}, {"role": "tool", "content": "{'wind': 5}"}]
    cont = continuation_ids(strict_tok, new, FOLDED, closed_with=eot)
    ours = strict_tok(prompt + step, add_special_tokens=False)["input_ids"] + [strict_tok.convert_tokens_to_ids(eot)] + cont
    whole = render_prompt(strict_tok, TOOLS, [*first, {"role": "assistant", "content": step}, *new], FOLDED)
    assert strict_tok.decode(ours) == whole
    assert whole.count("<|im_start|>user") == 2 and "Tool result:\n{'temp': 3}\n\nTool result:\n{'wind': 5}" in whole


@pytest.mark.slow  # make test-full: keeps `make test` under 20 min on 2 cores (21 s; make test keeps the evaluation case)
def test_training_with_such_a_model_stops_at_once_or_runs_with_the_roles_folded(tmp_path, tiny_model_dir):
    model = tmp_path / "strict_model"
    shutil.copytree(tiny_model_dir, model)
    (model / "chat_template.jinja").write_text(STRICT)
    args = ["+experiment=multi_turn_grpo", f"model.path={model}", "trainer.warm_start=null", "logger=none",
            "trainer.max_steps=1", "rollout.num_generations=2", "trainer.prompts_per_step=2", "trainer.micro_batch_size=4",
            "rollout.max_new_tokens=16", "agent.max_steps_per_turn=1", "agent.max_episode_tokens=128",
            "trainer.eval_at_start=false", "trainer.eval_size=2", "trainer.eval_max_new_tokens=8", "trainer.export=false"]
    proc = run_train(args, tmp_path / "refused", check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(errors) == 1 and str(model) in errors[0] and "refuses a system message" in errors[0]
    run = tmp_path / "folded"
    run_train([*args, "data.prompt.system_role=user", "data.prompt.tool_role=user"], run)
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == [1]


def test_evaluation_with_such_a_model_stops_with_one_line(tmp_path, tiny_model_dir):
    model = tmp_path / "strict_model"
    shutil.copytree(tiny_model_dir, model)
    (model / "chat_template.jinja").write_text(STRICT)
    proc = run_train([f"model.path={model}", "eval=bfcl_multi_turn", "eval.limit=1", "eval.prompt.answer_format=think_answer",
                      "eval.prompt.system_role=user", "logger=none"], tmp_path / "eval", module="funcall.evaluate", check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(errors) == 1 and str(model) in errors[0] and "refuses a tool result" in errors[0]
    assert "eval.prompt.tool_role=user" in errors[0]
