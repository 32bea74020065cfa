"""vLLM's greedy completions against HF ``generate`` with the same weights, before and after updates.

Run as ``python tests/vllm_sync_check.py MODEL_DIR OUT.json [zero0|zero3] [LR] [lora]`` (a fresh process: vLLM
sets process-wide state). With ``lora`` the policy is wrapped in LoRA adapters (r=8, only they train), so
the weights vLLM receives are the merged ones under the base model's names. The policy is the Hugging Face model of MODEL_DIR inside a DeepSpeed engine
(ZeRO-3 with ``zero3``: the weights vLLM receives are gathered from shards); the rollout engine is
built from ``conf/rollout/vllm.yaml`` as training builds it. For 8 held-out prompts, OUT.json gets
both engines' greedy completions at step 0 and after 2 optimizer steps that changed the weights.

Greedy decoding is a function of the weights only where the best token is not tied with the next:
two float32 implementations (vLLM's CPU kernels, PyTorch's sdpa) may break a tie of 1e-6 either
way. So the 8 prompts, at each phase, are the first held-out ones whose greedy path under HF has
every step decided by more than ``MARGIN`` in log-probability; on those the completions must be
equal token for token.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARGIN = 1e-3  # log-prob gap between the best and second-best token below which a step counts as a tie


def decided(model, prompt: list[int], completion: list[int]) -> bool:
    """Every greedy step of ``completion`` has its best token ahead of the next by > MARGIN."""
    import torch

    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + completion])).logits[0, len(prompt) - 1:-1]
    top = torch.log_softmax(logits.float(), -1).topk(2, dim=-1).values
    return bool(((top[:, 0] - top[:, 1]) > MARGIN).all())


def main(model_dir: str, out: str, zero: str, lr: float, lora: bool = False) -> None:
    sys.path.insert(0, str(REPO))
    import deepspeed
    import torch
    from hydra import compose, initialize_config_dir
    from transformers import AutoModelForCausalLM

    from funcall.data.prompts import PromptStyle
    from funcall.data.synthetic import SyntheticTask
    from funcall.dist import init_distributed
    from funcall.models.load import load_tokenizer
    from funcall.rollout.hf import HFEngine
    from funcall.trainers.ds_config import deepspeed_config
    from funcall.utils.hydra_setup import register_resolvers
    from funcall.utils.instantiate import instantiate

    init_distributed()
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["rollout=vllm", f"deepspeed={zero}",
                                                      "rollout.engine.kv_cache_memory_gib=1",
                                                      "rollout.engine.max_model_len=1024"])
    ds = deepspeed_config(cfg.deepspeed, micro_batch_size=1, grad_accum=1, precision="fp32")
    if zero == "zero3":
        from transformers.integrations import HfDeepSpeedConfig

        keep = HfDeepSpeedConfig(ds)  # noqa: F841 - load straight into shards
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if lora:
        from funcall.models.lora import LoraSpec, apply_lora

        model = apply_lora(model, LoraSpec(r=8))
    tok = load_tokenizer(model_dir)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds)
    vllm = instantiate(cfg.rollout.engine, module=model, tokenizer=tok, ds_engine=engine)
    hf = HFEngine(model, tok, ds_engine=engine)
    style = PromptStyle(answer_format="think_answer", tool_style="compact")
    pool = [style.prompt_ids(tok, e) for e in SyntheticTask(seed=0).held_out()[:96]]
    result = {}
    for phase in ("step0", "step2"):
        vllm.sync_weights()
        candidates = hf.generate(pool, max_new_tokens=64, greedy=True).ids
        if zero == "zero3":
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(model.parameters())):
                chosen = [i for i in range(len(pool)) if decided(model, pool[i], candidates[i])][:8]
        else:
            chosen = [i for i in range(len(pool)) if decided(model, pool[i], candidates[i])][:8]
        prompts = [pool[i] for i in chosen]
        result[phase] = {"prompts": chosen, "vllm": vllm.generate(prompts, max_new_tokens=64, greedy=True).ids,
                         "hf": hf.generate(prompts, max_new_tokens=64, greedy=True).ids,
                         "all_hf": candidates}
        if phase == "step0":
            for _ in range(2):  # two optimizer steps on the first completion: the weights change
                ids = torch.tensor([prompts[0] + result["step0"]["hf"][0]])
                loss = engine(input_ids=ids, labels=ids).loss
                engine.backward(loss)
                engine.step()
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "zero0", float(sys.argv[4]) if len(sys.argv) > 4 else 0.1,
         len(sys.argv) > 5 and sys.argv[5] == "lora")
