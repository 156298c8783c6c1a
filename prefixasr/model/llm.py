"""The decoder-only LLM: a Llama built from a config (trained from scratch by the LM stage), or
any Hugging Face causal LM loaded from a local directory / model name.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Dict

import torch
from torch import nn


def build_llm(cfg: Dict[str, Any], vocab_size: int, bos_id: int, eos_id: int, load_weights: bool = True) -> nn.Module:
    """cfg is the `model.llm` section. load_weights=False builds a pretrained model's architecture
    only (load_model then fills the weights from our checkpoint)."""
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    kind = cfg["type"]
    if kind == "scratch":
        arch = dict(cfg["arch"])
        conf = LlamaConfig(
            vocab_size=vocab_size, bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=0, **arch
        )
        return LlamaForCausalLM(conf)
    if kind == "pretrained":
        path = cfg.get("path")
        if not path:
            raise ValueError("model.llm.type=pretrained needs model.llm.path (a HF model directory or name)")
        if load_weights:
            logging.info("loading pretrained LLM from %s", path)
            llm = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        else:
            llm = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(path)))
        rows = llm.get_input_embeddings().num_embeddings
        if rows < vocab_size:
            raise ValueError(f"LLM at {path} has {rows} embeddings but the tokenizer has {vocab_size} tokens")
        return llm
    raise ValueError(f"model.llm.type must be none, scratch or pretrained; got {kind!r}")


def llm_hidden_size(llm: nn.Module) -> int:
    return int(llm.get_input_embeddings().embedding_dim)


def freeze(module: nn.Module) -> None:
    """No gradients, and eval mode so any dropout inside stays off (weights stay bit-identical)."""
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()


def llm_hidden_states(
    llm: nn.Module, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor
) -> torch.Tensor:
    """Last hidden states of the LLM body; the caller applies the LM head only where it needs logits.

    Models with relative positions from the mask (BLOOM's ALiBi) take no position_ids.
    """
    body = llm.base_model
    kwargs = {"position_ids": position_ids} if "position_ids" in inspect.signature(body.forward).parameters else {}
    out = body(inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False, **kwargs)
    return out.last_hidden_state
