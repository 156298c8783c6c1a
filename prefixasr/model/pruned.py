"""The pruned RNN-T loss from joiner logits, without the backend's extra full-size copies.

k2/fast_rnnt's `rnnt_loss_pruned` normalises the (B, T, S, V) logits with logsumexp and gathers two
columns; autograd then keeps several (B, T, S, V) temporaries (logsumexp backward, two
gather-backward zero tensors, their sum). Only two log-probabilities per lattice cell are needed,
so `_PrunedLogProbs` computes them directly and builds the logits' gradient in one buffer
(softmax * -(g_sym + g_blank), plus the one-hot terms). The lattice recursion itself is the
backend's `mutual_information_recursion`, so the result equals `rnnt_loss_pruned` (tested).
"""
from __future__ import annotations

import torch

from prefixasr import losses


class _PrunedLogProbs(torch.autograd.Function):
    """logits (B, T, S, V), symbol ids (B, T, S) -> (log p(symbol), log p(blank)), each (B, T, S)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, sym: torch.Tensor, blank: int):
        # per-utterance logsumexp: its temporaries are 1/B of the logits, not a full copy
        lse = torch.stack([torch.logsumexp(logits[b], dim=-1) for b in range(logits.size(0))])
        px = logits.gather(-1, sym.unsqueeze(-1)).squeeze(-1) - lse
        py = logits[..., blank] - lse
        ctx.save_for_backward(logits, sym, lse)
        ctx.blank = blank
        return px, py

    @staticmethod
    def backward(ctx, gx: torch.Tensor | None, gy: torch.Tensor | None):
        logits, sym, lse = ctx.saved_tensors
        gx = torch.zeros_like(lse) if gx is None else gx
        gy = torch.zeros_like(lse) if gy is None else gy
        grad = torch.sub(logits, lse.unsqueeze(-1)).exp_()  # softmax: the only full-size buffer
        grad.mul_(-(gx + gy).unsqueeze(-1))
        grad.scatter_add_(-1, sym.unsqueeze(-1), gx.unsqueeze(-1))
        grad[..., ctx.blank] += gy
        return grad, None, None


def pruned_loss_from_logits(
    logits: torch.Tensor, symbols: torch.Tensor, ranges: torch.Tensor, boundary: torch.Tensor, blank_id: int
) -> torch.Tensor:
    """Summed regular RNN-T loss of pruned logits (B, T, s_range, V); symbols (B, S); ranges (B, T, s_range)."""
    b, t, _, _ = logits.shape
    s = symbols.size(1)
    with_end = torch.cat([symbols, symbols.new_full((b, 1), blank_id)], dim=1)  # (B, S+1)
    sym = with_end.unsqueeze(1).expand(b, t, s + 1).gather(2, ranges)  # symbol id in each kept cell
    with torch.autocast(device_type=logits.device.type, enabled=False):
        px_k, py_k = _PrunedLogProbs.apply(logits.float(), sym, blank_id)
        # place the kept cells on the full (B, T, S+1) lattice; everything else is impossible
        ninf = px_k.new_full((b, t, s + 1), float("-inf"))
        px = ninf.scatter(2, ranges, px_k)[:, :, :s].permute(0, 2, 1)  # (B, S, T)
        px = torch.cat([px, px.new_full((b, s, 1), float("-inf"))], dim=2)
        # no symbol can be emitted on the one-past-the-last frame of each utterance
        px = px.scatter(2, boundary[:, 3].view(b, 1, 1).expand(b, s, 1), float("-inf"))
        py = ninf.scatter(2, ranges, py_k).permute(0, 2, 1)  # (B, S+1, T)
        scores = losses.get_backend().mutual_information_recursion(
            px=px.contiguous(), py=py.contiguous(), boundary=boundary
        )
    return -scores.sum()
