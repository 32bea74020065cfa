"""TRL's SFTTrainer, run in its own venv, as the speed baseline of `sft_vs_trl.py`.

    <trl-venv>/bin/python sft_trl_side.py SPEC.json

One SFTTrainer on the model folder and prompt/completion texts of SPEC.json (funcall's own
chat-templated prompts and targets, so both sides train on the same text), with the batch size,
packing and precision SPEC.json gives, driven step by step over stdin/stdout like
`grpo_trl_side.py`: before each optimizer step it prints ``@@ready`` and waits for ``go``; after
it, ``@@step {json}`` with the step's wall time and its target (completion) tokens. The venv is
the one `grpo_trl_side.ensure_venv` makes (trl 1.16, torch pinned to the local CPU build).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(spec_path: str) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    spec = json.loads(Path(spec_path).read_text())
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32, attn_implementation=spec["attn"])
    dataset = Dataset.from_dict({"prompt": spec["prompts"], "completion": spec["completions"]})
    counts = {}

    class Counting(SFTTrainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            counts["target_tokens"] = counts.get("target_tokens", 0) + int((inputs["labels"] != -100).sum())
            return super().compute_loss(model, inputs, *args, **kwargs)

    args = SFTConfig(
        output_dir=spec["output_dir"], max_steps=spec["steps"], per_device_train_batch_size=spec["batch_size"],
        gradient_accumulation_steps=1, learning_rate=spec["lr"], lr_scheduler_type="constant", warmup_steps=0,
        max_grad_norm=1.0, adam_beta1=0.9, adam_beta2=0.95, weight_decay=0.0, optim="adamw_torch",
        max_length=spec["max_length"], packing=spec["packing"], padding_free=spec["packing"],
        completion_only_loss=True, bf16=spec["bf16"], fp16=False, use_cpu=True, report_to="none",
        save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, dataloader_num_workers=0,
        gradient_checkpointing=False)

    class Barrier(TrainerCallback):
        started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            print("@@ready", flush=True)
            if sys.stdin.readline().strip() != "go":
                sys.stdout.flush()
                os._exit(0)
            counts.clear()
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            seconds = time.perf_counter() - self.started
            print("@@step " + json.dumps({"seconds": seconds, **counts}), flush=True)

    trainer = Counting(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[Barrier()])
    trainer.train()


if __name__ == "__main__":
    main(sys.argv[1])
