"""Pruned RNN-T loss, icefall style, on whichever backend is installed (k2, else fast_rnnt).

The computation (as in icefall's zipformer/model.py):
  1. a *simple* (smoothed, "trivial joiner") loss on `am_simple (B,T,V)` + `lm_simple (B,U+1,V)`,
     whose gradients w.r.t. the lattice tell where the alignment mass is;
  2. prune ranges of width `s_range` per frame from those gradients;
  3. the real joiner evaluated only inside the ranges (B,T,s_range,V) and the pruned loss.
All loss arithmetic runs in float32 with autocast off: the lattice sums underflow in half precision.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch

_BACKEND_CANDIDATES = ("k2", "fast_rnnt")
_backend = None
_backend_name: Optional[str] = None


def get_backend():
    """The pruned RNN-T implementation: k2 when importable, else fast_rnnt (same function names)."""
    global _backend, _backend_name
    if _backend is None:
        for name in _BACKEND_CANDIDATES:
            try:
                _backend = importlib.import_module(name)
                _backend_name = name
                break
            except Exception:  # a broken k2 wheel raises more than ImportError
                continue
        else:
            raise ImportError(
                "no pruned RNN-T backend: install fast_rnnt with tools/installers/install_fast_rnnt.sh "
                "(or k2 with tools/installers/install_k2.sh)"
            )
    return _backend


def backend_name() -> str:
    get_backend()
    assert _backend_name is not None
    return _backend_name


def make_boundary(x_lens: torch.Tensor, y_lens: torch.Tensor) -> torch.Tensor:
    """k2's boundary tensor (B, 4) = [begin_symbol, begin_frame, end_symbol, end_frame]."""
    if x_lens.shape != y_lens.shape or x_lens.dim() != 1:
        raise ValueError(f"x_lens {tuple(x_lens.shape)} and y_lens {tuple(y_lens.shape)} must both be (B,)")
    boundary = torch.zeros((x_lens.numel(), 4), dtype=torch.int64, device=x_lens.device)
    boundary[:, 2] = y_lens
    boundary[:, 3] = x_lens
    return boundary


def _check(am: torch.Tensor, lm: torch.Tensor, symbols: torch.Tensor, boundary: torch.Tensor) -> None:
    if am.dim() != 3 or lm.dim() != 3 or symbols.dim() != 2:
        raise ValueError(
            f"expected am (B,T,V), lm (B,U+1,V), symbols (B,U); got am {tuple(am.shape)}, "
            f"lm {tuple(lm.shape)}, symbols {tuple(symbols.shape)}"
        )
    B, T, V = am.shape
    if lm.shape[0] != B or symbols.shape[0] != B or boundary.shape != (B, 4):
        raise ValueError(
            f"batch sizes differ: am {B}, lm {lm.shape[0]}, symbols {symbols.shape[0]}, boundary {tuple(boundary.shape)}"
        )
    if lm.shape[1] != symbols.shape[1] + 1:
        raise ValueError(f"lm must have U+1={symbols.shape[1] + 1} positions (blank-prepended), got {lm.shape[1]}")
    if lm.shape[2] != V:
        raise ValueError(f"am and lm vocab sizes differ: {V} vs {lm.shape[2]}")
    if int(boundary[:, 3].max()) > T or int(boundary[:, 2].max()) > symbols.shape[1]:
        raise ValueError("a length in boundary exceeds the padded T or U")
    if int(boundary[:, 3].min()) < 1:
        raise ValueError("every utterance needs at least one frame (x_lens >= 1)")


@dataclass
class PrunedRnntConfig:
    """icefall's defaults."""

    prune_range: int = 5
    lm_scale: float = 0.25  # lm_only_scale of the smoothed loss
    am_scale: float = 0.0  # am_only_scale of the smoothed loss
    blank_id: int = 0


def simple_loss(
    am: torch.Tensor,
    lm: torch.Tensor,
    symbols: torch.Tensor,
    boundary: torch.Tensor,
    blank_id: int = 0,
    lm_scale: float = 0.25,
    am_scale: float = 0.0,
    reduction: str = "sum",
) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Smoothed simple loss and its lattice gradients (px_grad, py_grad) used for pruning."""
    _check(am, lm, symbols, boundary)
    with torch.autocast(device_type=am.device.type, enabled=False):
        return get_backend().rnnt_loss_smoothed(
            lm=lm.float(),
            am=am.float(),
            symbols=symbols.long(),
            termination_symbol=blank_id,
            lm_only_scale=lm_scale,
            am_only_scale=am_scale,
            boundary=boundary,
            reduction=reduction,
            return_grad=True,
        )


def prune_ranges(px_grad: torch.Tensor, py_grad: torch.Tensor, boundary: torch.Tensor, s_range: int) -> torch.Tensor:
    """(B, T, s_range) symbol positions kept for each frame."""
    return get_backend().get_rnnt_prune_ranges(px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=s_range)


def prune(am: torch.Tensor, lm: torch.Tensor, ranges: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Gather (B,T,s_range,C) encoder/decoder inputs of the joiner inside the prune ranges."""
    return get_backend().do_rnnt_pruning(am=am, lm=lm, ranges=ranges)


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


def pruned_loss(
    logits: torch.Tensor,
    symbols: torch.Tensor,
    ranges: torch.Tensor,
    boundary: torch.Tensor,
    blank_id: int = 0,
    reduction: str = "sum",
) -> torch.Tensor:
    """RNN-T loss of joiner logits (B,T,s_range,V) evaluated inside `ranges` (B,T,s_range); symbols (B,S).

    Equal to the backend's `rnnt_loss_pruned` (tested) without its full-size copies: that one normalises the
    logits with logsumexp and gathers two columns, and autograd keeps several (B,T,S,V) temporaries; only two
    log-probabilities per lattice cell are needed, so `_PrunedLogProbs` computes them and builds the logits'
    gradient in one buffer. The lattice recursion is the backend's `mutual_information_recursion`.
    reduction: sum | mean (over utterances) | none.
    """
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
        scores = get_backend().mutual_information_recursion(
            px=px.contiguous(), py=py.contiguous(), boundary=boundary
        )
    if reduction == "none":
        return -scores
    return -scores.mean() if reduction == "mean" else -scores.sum()


def full_loss(
    logits: torch.Tensor,
    symbols: torch.Tensor,
    boundary: torch.Tensor,
    blank_id: int = 0,
    reduction: str = "sum",
) -> torch.Tensor:
    """The unpruned RNN-T loss of joiner logits (B, T, U+1, V)."""
    if logits.dim() != 4 or symbols.dim() != 2 or logits.shape[2] != symbols.shape[1] + 1:
        raise ValueError(
            f"expected logits (B,T,U+1,V) and symbols (B,U); got {tuple(logits.shape)} and {tuple(symbols.shape)}"
        )
    with torch.autocast(device_type=logits.device.type, enabled=False):
        return get_backend().rnnt_loss(
            logits=logits.float(),
            symbols=symbols.long(),
            termination_symbol=blank_id,
            boundary=boundary,
            reduction=reduction,
        )


def pruned_rnnt_loss(
    am_simple: torch.Tensor,
    lm_simple: torch.Tensor,
    am_joiner: torch.Tensor,
    lm_joiner: torch.Tensor,
    joiner: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    symbols: torch.Tensor,
    x_lens: torch.Tensor,
    y_lens: torch.Tensor,
    config: PrunedRnntConfig = PrunedRnntConfig(),
    reduction: str = "sum",
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The whole icefall computation: returns (simple_loss, pruned_loss).

    am_simple (B,T,V) / lm_simple (B,U+1,V): the simple projections of encoder/predictor outputs.
    am_joiner (B,T,C) / lm_joiner (B,U+1,C): encoder/predictor outputs already projected to the joiner
    dimension — projecting *before* pruning keeps the gathered tensors at C, not the input widths.
    joiner(am_pruned, lm_pruned) maps (B,T,S,C) pairs to logits (B,T,S,V).
    """
    boundary = make_boundary(x_lens, y_lens)
    loss_simple, (px_grad, py_grad) = simple_loss(
        am_simple, lm_simple, symbols, boundary, config.blank_id, config.lm_scale, config.am_scale, reduction
    )
    ranges = prune_ranges(px_grad, py_grad, boundary, config.prune_range)
    am_pruned, lm_pruned = prune(am_joiner, lm_joiner, ranges)
    logits = joiner(am_pruned, lm_pruned)
    loss_pruned = pruned_loss(logits, symbols, ranges, boundary, config.blank_id, reduction)
    return loss_simple, loss_pruned
