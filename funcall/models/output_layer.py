"""The output layer in bounded memory: token log-probs and entropies from hidden states, chunk by chunk.

At a real vocabulary the output layer is where training runs out of memory: one micro-batch of
4 x 2,048 completion tokens at Qwen's 151,936 rows has 5.0 GB of fp32 logits, and the obvious code
holds several copies (the logits, their fp32 / temperature copy, ``log_softmax``, its ``exp()`` and
product for the entropy) plus what autograd keeps of each for the backward pass. Here the model's
decoder gives the hidden states of the positions that matter (completion tokens, SFT targets),
and `token_stats` runs the output layer over them ``chunk`` positions at a time: each chunk's
logits become its tokens' log-probs (and the entropies) and are freed before the next chunk. Under
gradient, each chunk runs inside a non-reentrant activation checkpoint, so the backward pass
recomputes that chunk's logits instead of keeping them (a micro-batch of one chunk keeps them:
the same memory, no recompute), and the gradient of the log-probs and
entropies with respect to the logits is written by hand (`_TokenStats`), over the chunk's logits:
one ``[chunk, V]`` tensor (and a few rows of temporaries) exists at any time, forward or backward,
whatever the number of tokens. TRL's
``selective_log_softmax`` and chunked entropy bound the copies of the no-grad passes but keep the
full logits; Liger's fused linear cross-entropy does what this does with Triton kernels on GPUs;
this is the pure PyTorch version, which runs wherever the model does.

Values and gradients equal the unchunked computation's to fp32 rounding (tests). Within a chunk,
the softmax passes (forward and backward) run a few rows at a time (`BLOCK_ELEMENTS`). Models whose logits are not just
``lm_head(hidden)`` are handled where transformers does it: Gemma 2's ``final_logit_softcapping``
(``tanh(z / cap) * cap``) is applied to each chunk.

Under ZeRO-3 every call of the output layer gathers its weight collectively, so every rank must
call it as often as its peers: the number of chunks is the largest over ranks (``all_reduce_max``),
and a rank with fewer positions runs empty chunks of one position, whose values are dropped.
"""
from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from funcall.dist import all_reduce_max


def softcap_of(model) -> float | None:
    """The model's final logit soft-capping (Gemma 2), or None."""
    config = getattr(model, "config", None)
    return getattr(config, "final_logit_softcapping", None) or None


BLOCK_ELEMENTS = 1 << 22  # elements of one block of rows for the softmax passes: 16 MB of fp32


def _blocks(z: torch.Tensor) -> list[slice]:
    """Row ranges of ``z`` ``[n, V]`` whose fp32 temporaries stay within `BLOCK_ELEMENTS`."""
    rows = max(1, BLOCK_ELEMENTS // max(z.shape[-1], 1))
    return [slice(i, i + rows) for i in range(0, z.shape[0], rows)]


def _stats(z: torch.Tensor, targets: torch.Tensor, temperature: float, with_entropy: bool) -> tuple[torch.Tensor, ...]:
    """Log-probs of ``targets`` and entropies under ``softmax(z / temperature)``, ``[n]`` each; the
    softmax passes run a block of rows at a time, so no ``[n, V]`` tensor is made beside ``z``."""
    logps = torch.empty(z.shape[0], dtype=torch.float32, device=z.device)
    entropy = torch.zeros_like(logps)
    for b in _blocks(z):
        log_p = torch.log_softmax(z[b].float() / temperature, dim=-1)
        logps[b] = log_p.gather(-1, targets[b].unsqueeze(-1)).squeeze(-1)
        if with_entropy:
            entropy[b] = -(log_p.exp() * log_p).sum(-1)
    return logps, entropy


class _TokenStats(torch.autograd.Function):
    """``z`` ``[n, V]`` -> (log-prob of each target, entropy) under ``softmax(z / temperature)``, with the
    gradient written by hand: ``d logp_t / ds = onehot(t) - p`` and ``d H / ds = -p (log p + H)`` for
    ``s = z / temperature``, a block of rows at a time, over ``z`` itself (the chunk's logits,
    recomputed for this backward by the checkpoint, or kept when there is one chunk, and needed by
    nothing after it; a second backward through the same graph would fail loudly on the version
    check). Autograd's chain through
    ``log_softmax``, ``exp`` and their product holds five ``[n, V]`` tensors or more; this holds one."""

    @staticmethod
    def forward(ctx, z, targets, temperature: float, with_entropy: bool):
        logps, entropy = _stats(z, targets, temperature, with_entropy)
        ctx.save_for_backward(z, targets, entropy)
        ctx.temperature, ctx.with_entropy = temperature, with_entropy
        return logps, entropy

    @staticmethod
    def backward(ctx, g_logp, g_entropy):
        z, targets, entropy = ctx.saved_tensors
        t = ctx.temperature
        g_logp = torch.zeros_like(entropy) if g_logp is None else g_logp
        g_entropy = g_entropy if ctx.with_entropy else None
        for b in _blocks(z):  # block b of the gradient needs block b of z only: written over it
            log_p = torch.log_softmax(z[b].float() / t, dim=-1)
            p = log_p.exp()
            if g_entropy is None:
                block = p.mul_(-g_logp[b].unsqueeze(-1))
            else:
                block = log_p.add_(entropy[b].unsqueeze(-1)).mul_(-g_entropy[b].unsqueeze(-1))
                block = block.sub_(g_logp[b].unsqueeze(-1)).mul_(p)
            block.scatter_add_(-1, targets[b].unsqueeze(-1), g_logp[b].unsqueeze(-1))
            z[b] = block / t if t != 1.0 else block
        return z, None, None, None


def _chunk_stats(head, hidden: torch.Tensor, targets: torch.Tensor, temperature: float, softcap: float | None,
                 with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of ``targets`` and entropies, ``[n]`` each, under ``softmax(head(hidden) / temperature)``."""
    z = head(hidden)
    if softcap is not None:
        z = torch.tanh(z.float() / softcap) * softcap
    if torch.is_grad_enabled() and z.requires_grad:
        return _TokenStats.apply(z, targets, temperature, with_entropy)
    return _stats(z, targets, temperature, with_entropy)


def token_stats(head, hidden: torch.Tensor, targets: torch.Tensor, *, chunk: int | None, temperature: float = 1.0,
                softcap: float | None = None, with_entropy: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``hidden`` ``[M, H]`` (the states predicting ``targets`` ``[M]``) -> log-probs ``[M]`` and
    entropies ``[M]`` (None without ``with_entropy``), ``chunk`` positions at a time (None or 0:
    one chunk); collective over ranks (module docstring)."""
    m = hidden.shape[0]
    if m == 0:
        raise ValueError("token_stats needs at least one position")
    size = int(chunk) if chunk else m
    chunks = all_reduce_max(-(-m // size))
    grad = torch.is_grad_enabled() and (hidden.requires_grad or any(p.requires_grad for p in head.parameters()))
    # one chunk on every rank: keeping its logits for the backward pass costs what recomputing them
    # would hold anyway, without the recompute (every rank decides alike: the count is agreed)
    recompute = grad and chunks > 1
    logps, entropies = [], []
    for k in range(chunks):
        h, t = hidden[k * size:(k + 1) * size], targets[k * size:(k + 1) * size]
        if h.shape[0] == 0:  # a peer has more chunks: run one position (ZeRO-3 gathers in step), drop its values
            lp, _ = (checkpoint(_chunk_stats, head, hidden[:1], targets[:1], temperature, softcap, False,
                                use_reentrant=False) if recompute else (None, None))
            if grad:  # in the graph with no effect, so its backward (collective too) runs as the peer's does
                logps[-1] = logps[-1] + 0.0 * lp.sum()
            else:
                _chunk_stats(head, hidden[:1], targets[:1], temperature, softcap, False)
            continue
        if recompute:
            lp, ent = checkpoint(_chunk_stats, head, h, t, temperature, softcap, with_entropy, use_reentrant=False)
        else:
            lp, ent = _chunk_stats(head, h, t, temperature, softcap, with_entropy)
        logps.append(lp)
        entropies.append(ent)
    return torch.cat(logps), torch.cat(entropies) if with_entropy else None
