"""The decoder-only LLM: a Llama built from a config (trained from scratch by the LM stage), or any Hugging Face
causal LM from a local directory or GGUF file, frozen, fine-tuned, or with LoRA adapters (peft).

A pretrained LLM is used as its authors built it: its own embedding scale (Gemma multiplies its embeddings by
sqrt(hidden) inside the embedding module, so scales are measured on the module's output, `embedding_rms`), its
own BOS/EOS ids (from its tokenizer, `check_llm_tokenizer`), its position limit and attention implementation.
"""
from __future__ import annotations

import copy
import inspect
import logging
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

LORA_MARK = "lora_"  # peft's adapter parameters are named lora_A / lora_B


def pretrained_location(path: str) -> tuple[str, Dict[str, Any]]:
    """(directory, kwargs) for from_pretrained: a .gguf file is read from its directory by name."""
    p = Path(path)
    if p.suffix == ".gguf":
        return str(p.parent), {"gguf_file": p.name}
    return str(p), {}


def build_llm(cfg: Dict[str, Any], vocab_size: int, bos_id: int, eos_id: int, load_weights: bool = True) -> nn.Module:
    """cfg is the `model.llm` section. load_weights=False builds a pretrained model's architecture only (its weights
    then come from our checkpoint)."""
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    kind = cfg["type"]
    attn = {"attn_implementation": cfg["attn_implementation"]} if cfg.get("attn_implementation") else {}
    if kind == "scratch":
        conf = LlamaConfig(vocab_size=vocab_size, bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=0,
                           **dict(cfg["arch"]), **attn)
        llm = LlamaForCausalLM(conf)
    elif kind == "pretrained":
        if not cfg.get("path"):
            raise ValueError("model.llm.type=pretrained needs model.llm.path (a HF model directory or .gguf file)")
        where, extra = pretrained_location(str(cfg["path"]))
        if load_weights:
            logging.info("loading pretrained LLM from %s", cfg["path"])
            llm = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **attn, **extra)
        else:
            llm = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(where, **extra), **attn)
        rows = llm.get_input_embeddings().num_embeddings
        if rows < vocab_size:
            raise ValueError(f"the LLM at {cfg['path']} has {rows} embeddings but its tokenizer {vocab_size} tokens: "
                             f"they do not belong together")
    else:
        raise ValueError(f"model.llm.type must be none, scratch or pretrained; got {kind!r}")
    lora = cfg.get("lora") or {}
    if lora.get("rank", 0) > 0:
        add_lora(llm, lora)
    if cfg.get("gradient_checkpointing"):
        llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return llm


def add_lora(llm: nn.Module, lora: Dict[str, Any]) -> None:
    """LoRA adapters injected in place (the module tree keeps its names); every other LLM weight frozen."""
    from peft import LoraConfig, inject_adapter_in_model

    conf = LoraConfig(r=int(lora["rank"]), lora_alpha=float(lora["alpha"]), lora_dropout=float(lora["dropout"]),
                      target_modules=list(lora["target_modules"]), bias="none")
    try:
        inject_adapter_in_model(conf, llm)
    except ValueError as e:  # peft names the modules it could not find
        raise ValueError(f"model.llm.lora.target_modules {lora['target_modules']}: {e}") from None
    for name, p in llm.named_parameters():
        p.requires_grad_(LORA_MARK in name)
    n = sum(p.numel() for p in llm.parameters() if p.requires_grad)
    logging.info("LoRA rank %d on %s: %d trainable LLM parameters", lora["rank"], lora["target_modules"], n)


def savable(llm: nn.Module) -> nn.Module:
    """`llm`, or where transformers marks it quantised (read from GGUF, or from a directory whose config still names
    the GGUF file) and so refuses to save it, the same de-quantised weights in a plain model of its config."""
    from transformers import AutoModelForCausalLM

    if getattr(llm, "hf_quantizer", None) is None and getattr(llm.config, "quantization_config", None) is None:
        return llm
    config = copy.deepcopy(llm.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=llm.dtype)
    plain.load_state_dict(llm.state_dict())
    plain.tie_weights()
    return plain


def check_llm_tokenizer(llm_cfg: Dict[str, Any], tokenizer: Any) -> None:
    """A pretrained LLM must be read with its own tokenizer: the same vocabulary size as its embeddings (give or take
    the padding rows of a rounded-up table) and the same BOS/EOS ids as its config. Fails with what differs."""
    if llm_cfg["type"] != "pretrained":
        return
    from transformers import AutoConfig

    where, extra = pretrained_location(str(llm_cfg["path"]))
    conf = AutoConfig.from_pretrained(where, **extra)
    conf = getattr(conf, "text_config", None) or conf
    rows = int(conf.vocab_size)
    problems = []
    if tokenizer.vocab_size > rows:
        problems.append(f"the tokenizer has {tokenizer.vocab_size} tokens, the LLM {rows} embeddings")
    elif tokenizer.kind == "sentencepiece" and tokenizer.vocab_size != rows:
        problems.append(f"the sentencepiece model has {tokenizer.vocab_size} pieces, the LLM {rows} embeddings")
    for what in ("bos", "eos"):
        want = getattr(conf, f"{what}_token_id", None)
        want = want[0] if isinstance(want, (list, tuple)) else want
        got = getattr(tokenizer, f"{what}_id")
        if want is not None and tokenizer.kind == "hf" and got != want:
            problems.append(f"{what.upper()} is {got} in the tokenizer, {want} in the LLM's config")
    if problems:
        raise ValueError(f"the LLM at {llm_cfg['path']} and its tokenizer do not match ({'; '.join(problems)}): "
                         "a pretrained LLM reads its own tokenizer (data.llm_tokenizer, default: the LLM's directory)")


def llm_hidden_size(llm: nn.Module) -> int:
    return int(llm.get_input_embeddings().embedding_dim)


def max_positions(llm: nn.Module) -> Optional[int]:
    conf = getattr(llm.config, "text_config", None) or llm.config
    return getattr(conf, "max_position_embeddings", None)


@torch.no_grad()
def embedding_rms(llm: nn.Module, chunk: int = 16384) -> float:
    """RMS of what the LLM's embedding module *returns* over its whole vocabulary (Gemma's scale included)."""
    emb = llm.get_input_embeddings()
    total, count = 0.0, 0
    for start in range(0, emb.num_embeddings, chunk):
        ids = torch.arange(start, min(start + chunk, emb.num_embeddings), device=emb.weight.device)
        out = emb(ids).float()
        total += float(out.pow(2).sum())
        count += out.numel()
    return (total / max(count, 1)) ** 0.5


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
