"""PyTorch DDP helpers: torchrun sets RANK/WORLD_SIZE/LOCAL_RANK; NCCL on GPUs, gloo on CPUs."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> DistInfo:
    """Initialise the process group when launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is visible")
    dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: Dict[str, float], info: DistInfo) -> Dict[str, float]:
    """Sum float stats over ranks (identity in a single process)."""
    if not info.distributed or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def all_true(flag: bool, info: DistInfo) -> bool:
    """True only when `flag` holds on every rank (so all ranks skip a bad batch together)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())
