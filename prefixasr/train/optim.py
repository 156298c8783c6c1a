"""AdamW over the trainable parameters, with a linear warm-up schedule."""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence

import torch
from torch import nn


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: Sequence[float],
                    lr_scales: Optional[Mapping[str, float]] = None) -> torch.optim.AdamW:
    """Frozen parameters are left out entirely; biases, norms and soft prompts get no weight decay.

    lr_scales: a learning-rate factor per top-level part ({"llm": 0.1, "encoder": 0.5}): a pretrained LLM or
    encoder needs a far lower rate than the projector and heads that start from scratch.
    """
    scales = dict(lr_scales or {})
    parts = {name for name, _ in model.named_children()}
    unknown = sorted(set(scales) - parts)
    if unknown:
        raise ValueError(f"train.lr_scales: unknown part(s) {unknown}; this model has {sorted(parts)}")
    groups_by_key: Dict[tuple, list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        scale = float(scales.get(name.split(".")[0], 1.0))
        no_decay = p.dim() < 2 or "soft_prompt" in name
        groups_by_key.setdefault((scale, no_decay), []).append(p)
    groups = [{"params": ps, "weight_decay": 0.0 if nd else weight_decay, "lr": lr * scale}
              for (scale, nd), ps in sorted(groups_by_key.items())]
    # fused: one kernel for all tensors (on CPU ~25x faster than the per-tensor loop)
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=True)


def build_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int, schedule: str) -> torch.optim.lr_scheduler.LambdaLR:
    """invsqrt: lr * min(s/w, sqrt(w/s)) (Noam without the model-size factor); constant: warm-up then flat."""
    w = max(1, warmup_steps)
    if schedule == "invsqrt":
        fn = lambda s: min((s + 1) / w, math.sqrt(w / (s + 1)))  # noqa: E731
    elif schedule == "constant":
        fn = lambda s: min(1.0, (s + 1) / w)  # noqa: E731
    else:
        raise ValueError(f"train.schedule must be invsqrt or constant, got {schedule!r}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
