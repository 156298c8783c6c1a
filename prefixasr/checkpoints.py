"""Reading trained weights: the checkpoints of an experiment dir (epoch-N.pt, checkpoint-K.pt), their
average, one file. Below model/, train/ and inference/, which all read weights through it (load_model,
model.init, pack, the averaging tool); writing checkpoints is the trainer's (train/checkpoint.py).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from prefixasr.common import PathLike

_EPOCH_RE = re.compile(r"^epoch-(\d+)\.pt$")
_STEP_RE = re.compile(r"^checkpoint-(\d+)\.pt$")
_AVG_RE = re.compile(r"^avg-(\d+)-(\d+)\.pt$")


def load_checkpoint(path: PathLike) -> Dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def epoch_checkpoints(exp_dir: PathLike) -> Dict[int, Path]:
    return {int(m.group(1)): p for p in Path(exp_dir).glob("epoch-*.pt") if (m := _EPOCH_RE.match(p.name))}


def step_checkpoints(exp_dir: PathLike) -> Dict[int, Path]:
    return {int(m.group(1)): p for p in Path(exp_dir).glob("checkpoint-*.pt") if (m := _STEP_RE.match(p.name))}


def kept_averages(exp_dir: PathLike) -> Dict[Tuple[int, int], Path]:
    """The averages stage 8 wrote, avg-<first>-<last>.pt, by (first, last) epoch."""
    return {(int(m.group(1)), int(m.group(2))): p for p in Path(exp_dir).glob("avg-*-*.pt")
            if (m := _AVG_RE.match(p.name))}


def find_checkpoints(exp_dir: PathLike, epoch: Optional[int] = None, avg: int = 1) -> List[Path]:
    """epoch-(N-avg+1) .. epoch-N (N = newest when None); their kept average avg-<first>-<N>.pt alone once those
    epoch files are deleted (a fine-tuned LLM's are GBs each); the newest checkpoint-K.pt when no epoch exists."""
    epochs = epoch_checkpoints(exp_dir)
    averages = kept_averages(exp_dir) if avg > 1 else {}
    if not epochs and not averages:
        steps = step_checkpoints(exp_dir)
        if epoch is None and steps:
            return [steps[max(steps)]]
        raise FileNotFoundError(f"no epoch-N.pt checkpoints in {exp_dir}")
    last = max([*epochs, *(b for _, b in averages)]) if epoch is None else epoch
    wanted = list(range(last - avg + 1, last + 1))
    missing = [e for e in wanted if e not in epochs]
    if missing and (wanted[0], last) in averages:
        return [averages[(wanted[0], last)]]
    if missing or avg < 1:
        raise FileNotFoundError(f"cannot average epochs {wanted} in {exp_dir}: missing {missing}")
    return [epochs[e] for e in wanted]


def _identity(t: torch.Tensor) -> tuple:
    """Equal for two names of one tensor (an LLM's tied input and output embeddings), also after torch.load."""
    if not t.numel():
        return (id(t),)
    return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))


def distinct_tensors(state: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
    """The tensors of a state dict, each once however many names it has."""
    return list({_identity(t): t for t in state.values()}.values())


def average_state_dicts(states: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Element-wise mean of floating tensors (in float64, cast back); integer buffers from the last. A tensor
    the last state holds under two names stays one tensor (saved once, not twice: Gemma's 168M-entry embedding)."""
    n = len(states)
    out: Dict[str, torch.Tensor] = {}
    done: Dict[tuple, torch.Tensor] = {}
    for key, last in states[-1].items():
        ident = _identity(last)
        if ident in done:
            out[key] = done[ident]
        elif last.is_floating_point():
            acc = sum(s[key].double() for s in states)
            out[key] = done[ident] = (acc / n).to(last.dtype)
        else:
            out[key] = done[ident] = last.clone()
    return out


def averaged_path(files: Sequence[Path]) -> Path:
    """Where the average of epoch files is kept: <exp-dir>/avg-<first>-<last>.pt (the recipe's stage 8)."""
    first, last = (int(_EPOCH_RE.match(p.name).group(1)) for p in (files[0], files[-1]))
    return files[0].parent / f"avg-{first}-{last}.pt"


def read_state_dict(path: PathLike, avg: int = 1, epoch: int | None = None) -> Dict[str, torch.Tensor]:
    """The model weights of an experiment dir (the `avg` epochs ending at `epoch`, newest when None, averaged;
    the averaged file stage 8 wrote when it is newer than those epochs) or of one checkpoint file."""
    path = Path(path)
    if path.is_dir():
        files = find_checkpoints(path, epoch=epoch, avg=avg)
        if len(files) > 1:
            kept = averaged_path(files)
            if kept.is_file() and kept.stat().st_mtime >= max(p.stat().st_mtime for p in files):
                logging.info("loading %s (the average of %s) from %s", kept.name, ", ".join(p.name for p in files), path)
                return torch.load(kept, map_location="cpu", weights_only=False)["model"]
        logging.info("loading %s from %s", ", ".join(p.name for p in files), path)
        states = [torch.load(p, map_location="cpu", weights_only=False)["model"] for p in files]
        return average_state_dicts(states) if len(states) > 1 else states[0]
    if not path.is_file():
        raise FileNotFoundError(f"model.init.path: {path} is neither an experiment directory nor a checkpoint file")
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state["model"] if isinstance(state, dict) and "model" in state else state
