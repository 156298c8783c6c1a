"""Initialise parts of a new model from a trained one (`model.init` in a system config).

The recipe's encoder pre-training stage trains an encoder on its own (characters CTC, pruned RNN-T,
language ID); every prefix-LM system then starts its encoder (and optionally other parts) from it,
as the paper's systems start from a pretrained speech encoder. `model.init.path` is an experiment
directory of ours (the last `avg` epochs are averaged) or a checkpoint file (`epoch-N.pt`, `avg-*.pt`,
or a bare state dict).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List

import torch
from torch import nn

from prefixasr.checkpoints import read_state_dict

# The parts of a SpeechPrefixLM that can be copied or frozen (attribute names).
PARTS = ("encoder", "encoder_ctc", "lid_head", "projector", "transducer", "ctc", "soft_prompt", "llm")


def _check_parts(names: List[str], what: str) -> None:
    """A part is a top-level name of PARTS, or a dotted sub-module of one (e.g. projector.mlp)."""
    unknown = sorted(n for n in names if n.split(".")[0] not in PARTS)
    if unknown:
        raise ValueError(f"model.init.{what}: unknown part(s) {unknown}; known: {list(PARTS)} (or part.sub_module)")


def _part(model: nn.Module, name: str) -> nn.Module | None:
    module: nn.Module | None = model
    for attr in name.split("."):
        module = getattr(module, attr, None) if module is not None else None
    return module


def initialise_from(model: nn.Module, init_cfg: Dict[str, Any]) -> List[str]:
    """Copy the parts named in init_cfg["modules"] from init_cfg["path"]; returns the parts copied.

    Every tensor of a named part must exist with the same shape in the source: a silent partial copy
    would leave a randomly initialised layer inside a "pretrained" encoder.
    """
    if not init_cfg.get("path"):
        return []
    parts = list(init_cfg["modules"])
    _check_parts(parts, "modules")
    source = read_state_dict(init_cfg["path"], int(init_cfg.get("avg", 1)))
    target = model.state_dict()
    update: Dict[str, torch.Tensor] = {}
    for part in parts:
        if _part(model, part) is None:
            raise ValueError(f"model.init.modules names {part!r}, but this system has no {part}")
        keys = [k for k in target if k.startswith(part + ".")]
        missing = [k for k in keys if k not in source]
        if missing:
            raise ValueError(f"model.init.path {init_cfg['path']} has no {part} weights (missing e.g. {missing[0]})")
        for k in keys:
            if source[k].shape != target[k].shape:
                raise ValueError(f"model.init: {k} has shape {tuple(source[k].shape)} in {init_cfg['path']} but "
                                 f"{tuple(target[k].shape)} here: the two systems' {part} configs differ")
            update[k] = source[k]
    model.load_state_dict(update, strict=False)
    logging.info("model.init: %s copied from %s (%d tensors)", ", ".join(parts), init_cfg["path"], len(update))
    return parts


def freeze_parts(model: nn.Module, names: List[str]) -> None:
    """No gradients for the named parts; SpeechPrefixLM keeps them in eval mode (no dropout)."""
    _check_parts(names, "freeze")
    for name in names:
        part = _part(model, name)
        if part is None:
            raise ValueError(f"model.init.freeze names {name!r}, but this system has no {name}")
        for p in part.parameters():
            p.requires_grad_(False)
