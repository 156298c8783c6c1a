"""Checkpoints: atomic save of the full training state, discovery, and averaging."""
from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from prefixasr.common import PathLike, atomic_save_torch

_EPOCH_RE = re.compile(r"^epoch-(\d+)\.pt$")
_STEP_RE = re.compile(r"^checkpoint-(\d+)\.pt$")


def rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: PathLike, **state: Any) -> None:
    """state: model, optimizer, scheduler, sampler, step, epoch, batch_in_epoch, counters, ...

    The RNG state is added here so a resumed run draws the same dropout masks.
    """
    state["rng"] = rng_state()
    atomic_save_torch(state, path)
    logging.info("saved %s", path)


def load_checkpoint(path: PathLike) -> Dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def epoch_checkpoints(exp_dir: PathLike) -> Dict[int, Path]:
    return {int(m.group(1)): p for p in Path(exp_dir).glob("epoch-*.pt") if (m := _EPOCH_RE.match(p.name))}


def step_checkpoints(exp_dir: PathLike) -> Dict[int, Path]:
    return {int(m.group(1)): p for p in Path(exp_dir).glob("checkpoint-*.pt") if (m := _STEP_RE.match(p.name))}


def find_checkpoints(exp_dir: PathLike, epoch: Optional[int] = None, avg: int = 1) -> List[Path]:
    """epoch-(N-avg+1) .. epoch-N (N = newest when None); the newest checkpoint-K.pt when no epoch exists."""
    epochs = epoch_checkpoints(exp_dir)
    if not epochs:
        steps = step_checkpoints(exp_dir)
        if epoch is None and steps:
            return [steps[max(steps)]]
        raise FileNotFoundError(f"no epoch-N.pt checkpoints in {exp_dir}")
    last = max(epochs) if epoch is None else epoch
    wanted = list(range(last - avg + 1, last + 1))
    missing = [e for e in wanted if e not in epochs]
    if missing or avg < 1:
        raise FileNotFoundError(f"cannot average epochs {wanted} in {exp_dir}: missing {missing}")
    return [epochs[e] for e in wanted]


def latest_checkpoint(exp_dir: PathLike) -> Optional[Path]:
    """The checkpoint with the most optimiser steps (epoch-N.pt or checkpoint-K.pt), for --resume."""
    best: Optional[tuple[int, int, Path]] = None
    for kind, paths in ((1, epoch_checkpoints(exp_dir)), (0, step_checkpoints(exp_dir))):
        for p in paths.values():
            step = int(torch.load(p, map_location="cpu", weights_only=False, mmap=True)["step"])
            # same step: the epoch checkpoint wins (it says the epoch is finished)
            if best is None or (step, kind) > best[:2]:
                best = (step, kind, p)
    return None if best is None else best[2]


def prune_step_checkpoints(exp_dir: PathLike, keep_last_n: int) -> None:
    steps = step_checkpoints(exp_dir)
    for s in sorted(steps)[:-keep_last_n] if keep_last_n > 0 else []:
        steps[s].unlink(missing_ok=True)


def average_state_dicts(states: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Element-wise mean of floating tensors (in float64, cast back); integer buffers from the last."""
    n = len(states)
    out: Dict[str, torch.Tensor] = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            acc = sum(s[key].double() for s in states)
            out[key] = (acc / n).to(last.dtype)
        else:
            out[key] = last.clone()
    return out
