"""Initialise parts of a new model from a trained one (`model.init` in a system config).

The recipe's encoder pre-training stage trains an encoder on its own (characters CTC, pruned RNN-T,
language ID); every prefix-LM system then starts its encoder (and optionally other parts) from it,
as the paper's systems start from a pretrained speech encoder. `model.init.path` is an experiment
directory of ours (the last `avg` epochs are averaged) or a checkpoint file (`epoch-N.pt`, `avg-*.pt`,
or a bare state dict).

`model.init.widen` names copied parts that may be narrower in the source: a system on a pretrained LLM has a
prefix as wide as that LLM (Gemma's 640) where the pre-training had 256, so the projector's last layer and the
RNN-T that reads the prefix would otherwise start from scratch. Each such tensor is copied into the leading slice
of the wider one (Net2Net-style): new output rows keep their fresh initialisation, and new input columns of the
copied rows are zeroed, so the widened RNN-T reads the prefix's copied dimensions exactly as before and its first
step is the pre-trained one.
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


def _widened(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """source copied into the leading slice of target (a 1-D bias or a 2-D weight no larger in any dimension),
    the new input columns of the copied rows zeroed; None when source does not fit that way."""
    if source.dim() != target.dim() or source.dim() not in (1, 2):
        return None
    if any(s > t for s, t in zip(source.shape, target.shape)):
        return None
    out = target.detach().clone()
    if source.dim() == 1:
        out[: source.size(0)] = source
    else:
        rows, cols = source.shape
        out[:rows, :cols] = source
        out[:rows, cols:] = 0.0
    return out


def initialise_from(model: nn.Module, init_cfg: Dict[str, Any]) -> List[str]:
    """Copy the parts named in init_cfg["modules"] from init_cfg["path"]; returns the parts copied.

    A named part the system does not have (no RNN-T) is left out, and logged. Every tensor of a named part it has
    must exist with the same shape in the source (or, for a part in
    init_cfg["widen"], fit into the leading slice of the wider one): a silent partial copy would leave a
    randomly initialised layer inside a "pretrained" encoder.
    """
    if not init_cfg.get("path"):
        return []
    parts = list(init_cfg["modules"])
    _check_parts(parts, "modules")
    widen = list(init_cfg.get("widen") or [])
    outside = [w for w in widen if w not in parts]
    if outside:
        raise ValueError(f"model.init.widen names {outside}, which model.init.modules does not copy")
    source = read_state_dict(init_cfg["path"], int(init_cfg.get("avg", 1)))
    target = model.state_dict()
    update: Dict[str, torch.Tensor] = {}
    widened = 0
    absent = [p for p in parts if _part(model, p) is None]
    if absent:  # a block layered over every system (conf/llm/) names parts some systems do not have
        logging.info("model.init: %s not copied: this system has none", ", ".join(absent))
        parts = [p for p in parts if p not in absent]
    for part in parts:
        keys = [k for k in target if k.startswith(part + ".")]
        missing = [k for k in keys if k not in source]
        if missing:
            raise ValueError(f"model.init.path {init_cfg['path']} has no {part} weights (missing e.g. {missing[0]})")
        for k in keys:
            if source[k].shape == target[k].shape:
                update[k] = source[k]
                continue
            wide = _widened(source[k], target[k]) if part in widen else None
            if wide is None:
                raise ValueError(f"model.init: {k} has shape {tuple(source[k].shape)} in {init_cfg['path']} but "
                                 f"{tuple(target[k].shape)} here: the two systems' {part} configs differ"
                                 + ("" if part in widen else f" (model.init.widen: [{part}] copies a narrower one)"))
            update[k] = wide
            widened += 1
    model.load_state_dict(update, strict=False)
    logging.info("model.init: %s copied from %s (%d tensors, %d of them widened)", ", ".join(parts),
                 init_cfg["path"], len(update), widened)
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
