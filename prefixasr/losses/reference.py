"""A tiny pure-PyTorch RNN-T loss (the forward algorithm), used only by tests as an oracle.

O(T*U) Python loop over anti-diagonals: slow, but obviously right and differentiable by autograd.
"""
from __future__ import annotations

import torch


def reference_rnnt_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lens: torch.Tensor,
    target_lens: torch.Tensor,
    blank: int = 0,
    reduction: str = "sum",
) -> torch.Tensor:
    """Negative log-likelihood of `targets` under RNN-T `logits` (B, T, U+1, V).

    Standard (torchaudio / k2 "regular") topology: blank moves t -> t+1, symbol u moves u -> u+1
    at the same frame, and the path ends with a blank from (T-1, U).
    """
    if logits.dim() != 4 or targets.dim() != 2 or logits.shape[2] != targets.shape[1] + 1:
        raise ValueError(f"expected logits (B,T,U+1,V), targets (B,U); got {tuple(logits.shape)}, {tuple(targets.shape)}")
    log_probs = logits.float().log_softmax(dim=-1)
    losses = []
    for b in range(logits.shape[0]):
        T, U = int(logit_lens[b]), int(target_lens[b])
        lp = log_probs[b, :T, : U + 1]
        blank_lp = lp[:, :, blank]  # (T, U+1)
        sym_lp = lp[:, :U].gather(-1, targets[b, :U].view(1, U, 1).expand(T, U, 1)).squeeze(-1)  # (T, U)
        neg_inf = torch.tensor(float("-inf"), dtype=lp.dtype, device=lp.device)
        alpha = [[neg_inf] * (U + 1) for _ in range(T)]
        for t in range(T):
            for u in range(U + 1):
                if t == 0 and u == 0:
                    alpha[t][u] = torch.zeros((), dtype=lp.dtype, device=lp.device)
                    continue
                terms = []
                if t > 0:
                    terms.append(alpha[t - 1][u] + blank_lp[t - 1, u])
                if u > 0:
                    terms.append(alpha[t][u - 1] + sym_lp[t, u - 1])
                alpha[t][u] = torch.logsumexp(torch.stack(terms), dim=0)
        losses.append(-(alpha[T - 1][U] + blank_lp[T - 1, U]))
    loss = torch.stack(losses)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    if reduction == "none":
        return loss
    raise ValueError(f"unknown reduction {reduction!r}: use none, sum or mean")
