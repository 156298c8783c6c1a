#!/usr/bin/env python3
"""Print every dependency of prefixasr with its version, the RNN-T backend and the device.

Usage:
    tools/venv/bin/python tools/check_install.py

Exits 1 with a fix-it message when something required is missing.
"""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys

# (import name, required?, how to fix)
PYTHON_DEPS = [
    ("torch", True, "make -C tools"),
    ("torchaudio", True, "make -C tools"),
    ("lhotse", True, "make -C tools"),
    ("urllib3", True, "make -C tools"),
    ("sentencepiece", True, "make -C tools"),
    ("kaldialign", True, "make -C tools"),
    ("yaml", True, "make -C tools"),
    ("tensorboard", True, "make -C tools"),
    ("transformers", True, "make -C tools"),
    ("soundfile", True, "make -C tools"),
    ("tqdm", True, "make -C tools"),
    ("matplotlib", True, "make -C tools"),
    ("peft", True, "make -C tools"),  # LoRA on a pretrained LLM
    ("gguf", True, "make -C tools"),  # GGUF files of pretrained LLMs
    ("ctranslate2", True, "make -C tools"),  # CTranslate2 (faster-whisper) encoder directories
    ("pytest", False, "make -C tools"),
    ("prefixasr", True, "make -C tools (pip install -e .)"),
    ("fast_rnnt", False, "tools/installers/install_fast_rnnt.sh"),
    ("k2", False, "tools/installers/install_k2.sh (optional)"),
]
# (command, argv that prints a version, required?, how to fix)
SYSTEM_DEPS = [
    ("espeak-ng", ["espeak-ng", "--version"], False, "tools/installers/install_system_deps.sh"),
    ("sox", ["sox", "--version"], False, "tools/installers/install_system_deps.sh"),
    ("sctk", ["sctk", "sclite"], False, "tools/installers/install_system_deps.sh"),
]


def python_dep(name: str) -> str | None:
    try:
        module = importlib.import_module(name)
    except Exception:  # a broken native extension raises more than ImportError
        return None
    return str(getattr(module, "__version__", "installed"))


def system_dep(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    out = subprocess.run(argv, capture_output=True, text=True).stdout + ""
    first = next((line.strip() for line in out.splitlines() if line.strip()), "installed")
    return first[:40]


def main() -> int:
    rows, problems = [], []
    for name, required, fix in PYTHON_DEPS:
        version = python_dep(name)
        rows.append((name, version or "MISSING", "required" if required else "optional"))
        if version is None and required:
            problems.append(f"{name} is missing: run `{fix}`")
    for name, argv, required, fix in SYSTEM_DEPS:
        version = system_dep(argv)
        rows.append((name, version or "MISSING", "required" if required else "optional (system)"))
        if version is None and required:
            problems.append(f"{name} is missing: run `{fix}`")

    backend = "none"
    try:
        from prefixasr.losses import backend_name

        backend = backend_name()
    except ImportError:
        problems.append("no pruned RNN-T backend: run `tools/installers/install_fast_rnnt.sh`")
    try:
        import torch

        device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    except Exception:
        device = "unknown"
    rows.append(("RNN-T backend", backend, "k2 if importable, else fast_rnnt"))
    rows.append(("device", device, f"python {sys.version.split()[0]}"))

    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'dependency':<{width}}  {'version':<{vwidth}}  note")
    print(f"{'-' * width}  {'-' * vwidth}  ----")
    for name, version, note in rows:
        print(f"{name:<{width}}  {version:<{vwidth}}  {note}")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
