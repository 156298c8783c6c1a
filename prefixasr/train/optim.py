"""AdamW over the trainable parameters; a linear warm-up, then an inverse-square-root, constant or linear decay."""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence

import torch
from torch import nn

from prefixasr.model.llm import LORA_MARK


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: Sequence[float],
                    lr_scales: Optional[Mapping[str, float]] = None) -> torch.optim.AdamW:
    """Frozen parameters are left out entirely; biases, norms and soft prompts get no weight decay.

    lr_scales: a learning-rate factor per parameter-name prefix ({"llm": 0.1, "encoder.layers.0": 0.5}; the longest
    matching prefix wins) or, under the key "lora", for the LoRA adapters (model.llm.lora): a pretrained LLM or
    encoder needs a far lower rate than the projector, the heads and the adapters that start from scratch.
    """
    scales = dict(lr_scales or {})
    names = [name for name, _ in model.named_parameters()]
    unknown = sorted(k for k in scales if k != "lora" and not any(_under(n, k) for n in names))
    if unknown:
        parts = sorted({name for name, _ in model.named_children()})
        raise ValueError(f"train.lr_scales: no parameter under {unknown}; this model's parts are {parts}")
    groups_by_key: Dict[tuple, list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        scale = float(_scale_of(name, scales))
        no_decay = p.dim() < 2 or "soft_prompt" in name
        groups_by_key.setdefault((scale, no_decay), []).append(p)
    groups = [{"params": ps, "weight_decay": 0.0 if nd else weight_decay, "lr": lr * scale}
              for (scale, nd), ps in sorted(groups_by_key.items())]
    # fused: one kernel for all tensors (on CPU ~25x faster than the per-tensor loop)
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=True)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _scale_of(name: str, scales: Mapping[str, float]) -> float:
    if "lora" in scales and LORA_MARK in name:
        return scales["lora"]
    matches = [k for k in scales if k != "lora" and _under(name, k)]
    return scales[max(matches, key=len)] if matches else 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int, schedule: str,
                    total_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """A linear warm-up over `warmup_steps`, then

    invsqrt: lr * sqrt(w/s) (Noam without the model-size factor); constant: lr;
    linear: down to 0 at `total_steps`, the run's last step. A run that ends annealed beats a snapshot of an
    open-ended schedule at the same step (the reason for icefall's epoch-dependent Eden factor), and linear
    decay to zero is the simplest such schedule that does it.
    """
    w = max(1, warmup_steps)
    if schedule == "invsqrt":
        fn = lambda s: min((s + 1) / w, math.sqrt(w / (s + 1)))  # noqa: E731
    elif schedule == "constant":
        fn = lambda s: min(1.0, (s + 1) / w)  # noqa: E731
    elif schedule == "linear":
        if total_steps <= 0:
            raise ValueError("train.schedule linear needs the run's number of steps")
        # a run shorter than its warm-up (a smoke test) only warms up
        fn = lambda s: min((s + 1) / w, max(0.0, (total_steps - s) / max(1, total_steps - w)))  # noqa: E731
    else:
        raise ValueError(f"train.schedule must be invsqrt, constant or linear, got {schedule!r}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
