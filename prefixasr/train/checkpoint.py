"""Training checkpoints: atomic save of the full training state, the one to resume from, pruning (reading and
averaging weights: prefixasr/checkpoints.py)."""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from prefixasr.checkpoints import epoch_checkpoints, step_checkpoints
from prefixasr.common import PathLike, atomic_save_torch


def seed_all(seed: int) -> None:
    """Seed every generator a training run draws from: torch's (initialisation, dropout, SpecAugment's masks), and
    Python's and numpy's, from which lhotse's SpecAugment draws whether to augment an utterance and its time warp in
    the loading process. With torch's alone two runs of one config were two different runs (docs/convergence.md
    part 36)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate(),
                             "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "numpy" in state:  # checkpoints before 2026-12-08 have none
        np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: PathLike, **state: Any) -> None:
    """state: model, optimizer, scheduler, sampler, step, epoch, batch_in_epoch, counters, ...

    The RNG state is added here so a resumed run draws the same dropout masks.
    """
    state["rng"] = rng_state()
    atomic_save_torch(state, path)
    logging.info("saved %s", path)


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
