"""Environment facts saved with every experiment (versions, git hash, backend)."""
from __future__ import annotations

import importlib
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import torch


def _version(module: str) -> str:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # absent or broken: record that instead of failing the run
        return "unavailable"


def git_hash() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True,
                               timeout=10)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_info(world_size: int, device: torch.device) -> Dict[str, Any]:
    from prefixasr.losses import backend_name

    try:
        rnnt_backend = backend_name()
    except ImportError:
        rnnt_backend = "none"
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv),
        "git": git_hash(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "none",
        "world_size": world_size,
        "num_threads": torch.get_num_threads(),
        "rnnt_backend": rnnt_backend,
        **{m: _version(m) for m in ("torchaudio", "transformers", "lhotse", "sentencepiece", "prefixasr")},
    }
