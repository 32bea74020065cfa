"""TRL's GRPOTrainer, run in its own venv, as the speed baseline of `grpo_vs_trl.py`.

Two roles, like `bfcl_official.py`:
  * `ensure_venv()` (imported by `grpo_vs_trl.py`, run with the project's Python): creates
    ~/.cache/funcall/trl-venv (override with $FUNCALL_TRL_VENV) with `trl==1.16.*` and the same
    transformers as the project's venv. Every pip call passes a constraints file pinning
    `torch==2.13.0` (the local CPU build; unpinned, pip would fetch a multi-GB CUDA torch).
    TRL is never a dependency of funcall.
  * `python grpo_trl_side.py SPEC.json` (run with that venv's Python): one GRPOTrainer on the
    model folder, prompts and settings in SPEC.json, driven step by step over stdin/stdout: before
    each optimizer step it prints ``@@ready`` and waits for a line (``go`` runs the step, ``stop``
    ends the process); after it, ``@@step {json}`` with the step's wall time and token counts.

How it differs from a plain `trainer.train()`: the step barrier (a callback) lets the driver
interleave TRL's steps with funcall's, so both sides see the same machine load; the reward is
funcall's own `AstMatchReward` (imported from the repository, pure Python), so both sides do the
same reward work; the dataset is given in funcall's step order with `shuffle_dataset=False`, so
both sides see the same prompts at the same step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRL_VERSION = "1.16.*"
TORCH_PIN = "torch==2.13.0"
REPO = Path(__file__).resolve().parents[2]


def venv_dir() -> Path:
    return Path(os.environ.get("FUNCALL_TRL_VENV", Path.home() / ".cache" / "funcall" / "trl-venv"))


def ensure_venv() -> Path:
    """Path of the venv's python, creating and filling the venv on first use."""
    import transformers  # the project's version; the baseline runs on the same one

    python = venv_dir() / "bin" / "python"
    probe = "import trl, torch; assert trl.__version__.startswith('1.16.') and torch.__version__.startswith('2.13.0')"
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True, check=False).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", venv_dir()], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write(TORCH_PIN + "\n")
    try:
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", constraints.name]
        subprocess.run([*pip, TORCH_PIN], check=True)
        subprocess.run([*pip, f"trl=={TRL_VERSION}", f"transformers=={transformers.__version__}"], check=True)
    finally:
        os.unlink(constraints.name)
    subprocess.run([python, "-c", probe], check=True)
    return python


def main(spec_path: str) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    sys.path.insert(0, str(REPO))
    from funcall.rewards.ast_match import AstMatchReward

    spec = json.loads(Path(spec_path).read_text())
    torch.manual_seed(spec["seed"])
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32, attn_implementation="sdpa")
    rows = spec["prompts"]
    dataset = Dataset.from_dict({
        "prompt": [r["text"] for r in rows], "tools_json": [json.dumps(r["tools"]) for r in rows],
        "answer_json": [json.dumps(r["possible_answer"]) for r in rows], "category": [r["category"] for r in rows],
        "prompt_len": [r["n_tokens"] for r in rows]})
    ast_match = AstMatchReward(answer_format=spec["answer_format"], require_think=True)
    counts = {}

    def reward(prompts, completions, completion_ids, tools_json, answer_json, category, prompt_len, **_):
        counts["prompt_tokens"] = sum(prompt_len)
        counts["completion_tokens"] = sum(len(c) for c in completion_ids)
        return ast_match(prompts, completions, tools=[json.loads(t) for t in tools_json],
                         possible_answer=[json.loads(a) for a in answer_json], category=category)

    reward.__name__ = "ast_match"
    args = GRPOConfig(
        output_dir=spec["output_dir"], max_steps=spec["steps"], per_device_train_batch_size=spec["rollouts"],
        gradient_accumulation_steps=1, num_generations=spec["num_generations"], num_iterations=1,
        max_completion_length=spec["max_new_tokens"], temperature=spec["temperature"], top_p=1.0, top_k=0,
        repetition_penalty=1.0, beta=spec["kl_coef"], epsilon=0.2, loss_type="dapo", scale_rewards="group",
        learning_rate=spec["lr"], lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=spec["max_grad_norm"],
        adam_beta1=0.9, adam_beta2=0.95, adam_epsilon=1e-8, weight_decay=0.0, optim="adamw_torch",
        shuffle_dataset=False, gradient_checkpointing=False, bf16=False, fp16=False, use_cpu=True,
        report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True, seed=spec["seed"],
        dataloader_num_workers=0, log_completions=False)

    class Barrier(TrainerCallback):
        started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            print("@@ready", flush=True)
            if sys.stdin.readline().strip() != "go":
                sys.stdout.flush()
                os._exit(0)
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            seconds = time.perf_counter() - self.started
            print("@@step " + json.dumps({"seconds": seconds, **counts}), flush=True)

    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[Barrier()])
    trainer.train()


if __name__ == "__main__":
    main(sys.argv[1])
