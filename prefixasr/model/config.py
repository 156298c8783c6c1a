"""The `model:` section of a system config: defaults, validation, and what each key means.

Token ids (`bos_id`, `eos_id`, `blank_id`) are filled in from the tokenizer by the trainer and then
saved with the config, so decoding rebuilds the model with no other input.
"""
from __future__ import annotations

import copy
from typing import Any, Dict

MODEL_DEFAULTS: Dict[str, Any] = {
    "input_dim": 80,  # the features' width: fbank or log-mel bins; a frozen encoder's d_model for type adapter
    "encoder": {
        # conformer (ours, the keys below) | hf (a pretrained HF speech encoder at `path`) | adapter (the keys below,
        # but no subsampling: a linear projection and Conformer layers on a frozen encoder's cached outputs,
        # model/adapter.py; prefixasr.bin.cache_encoder computes them)
        "type": "conformer",
        # hf: a HF model directory or name, or a CTranslate2 Whisper directory (model/hf_encoder.py), the Conformer
        # keys then unused; adapter: the frozen encoder whose outputs it reads (to compute them from audio)
        "path": None,
        "d_model": 144,
        "num_layers": 6,
        "num_heads": 4,
        "ffn_dim": 576,
        "kernel_size": 31,
        "dropout": 0.1,
        "subsampling_channels": 64,
        "pos_enc": "sinusoidal",  # sinusoidal | none (absolute positions added after subsampling)
        "xscale": True,  # multiply the subsampled features by sqrt(d_model) before the positions (ESPnet)
        "adapter": {  # type adapter only
            # the cached outputs it reads: lhotse features of type "encoder:<input>" (cache_encoder --name);
            # null: the name of `path`'s directory (cache_encoder's default name)
            "input": None,
            "stride": 1,  # 1 | 2: pairs of cached frames stacked (Whisper's 20 ms -> 40 ms, the Conformer's rate)
        },
    },
    # frame stacking (x stack after the x4 subsampling) + MLP into the LLM width
    # output_dim: only when llm.type=none; match_llm_scale: LayerNorm at the LLM's embedding RMS (model/projector.py)
    # token_bridge: none | rnnt | ctc: add a soft transcript in the LLM's token embeddings to the prefix, from the
    # RNN-T's simple-loss "am" posteriors or the encoder CTC's (which must then speak the LLM's tokens; stack 1)
    # compress: none | ctc (the LLM reads one vector per run of the encoder CTC's non-blank label; needs stack 1
    # and loss.encoder_ctc_weight > 0; model.llm_prefix); align_positions: the text's positions restart at the
    # prefix's (model.position_ids); ctc_text: the encoder CTC's best path, in the LLM's own tokens, follows the
    # prefix (needs loss.encoder_ctc_weight > 0; model._append_ctc_text)
    "projector": {"stack": 2, "hidden_dim": 512, "output_dim": 256, "match_llm_scale": True, "token_bridge": "none",
                  "compress": "none", "align_positions": False, "ctc_text": False},
    "llm": {
        "type": "scratch",  # none | scratch (Llama from `arch`) | pretrained (HF dir or name in `path`)
        "path": None,  # a HF model directory (or a .gguf file: prefixasr.bin.convert_llm makes a directory of it)
        "freeze": False,  # frozen weights are not saved with our checkpoints: they are read from `path` (kept once)
        # LoRA adapters (peft) on a frozen pretrained LLM: the setting between frozen and fine-tuned (rank 0: off)
        "lora": {"rank": 0, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
        "gradient_checkpointing": False,  # recompute the LLM's layers in the backward pass: memory for time
        "attn_implementation": None,  # passed to transformers: sdpa | eager | flash_attention_2; null: its choice
        # a BOS token before the soft prompt, where the LLM was pre-trained with one at position 0 (Gemma's
        # attention leans on it); null: when the LLM's own tokenizer adds one
        "leading_bos": None,
        "logits_chunk": 1024,  # rows of the LLM's output logits computed at once (262k-token vocabularies)
        "arch": {
            "hidden_size": 256,
            "intermediate_size": 768,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "max_position_embeddings": 2048,
            "tie_word_embeddings": True,
        },
    },
    "prompt": {
        "type": "none",  # none | shared | langid
        "length": 4,  # K soft-prompt vectors
        "init": "text",  # text: embeddings of init_text (shared) or the language's name (langid); random
        "init_text": None,
    },
    # ctc: CTC on the speech prefix over the LLM's tokens; encoder_ctc: CTC on the encoder output (40 ms
    # frames) over characters (data.char_tokenizer): the unit a from-scratch encoder learns first
    "loss": {"ce_weight": 1.0, "rnnt_weight": 0.0, "ctc_weight": 0.0, "encoder_ctc_weight": 0.0, "lid_weight": 0.0},
    # filled in by the trainer from data.char_tokenizer when loss.encoder_ctc_weight > 0
    "encoder_ctc": {"vocab_size": None, "blank_id": 0},
    # the RNN-T's and the prefix CTC's units (data.tokenizer), filled in by the trainer when they are not the LLM's
    # tokens (a pretrained LLM with its own tokenizer; data/vocab.py); null: the LLM's vocabulary
    "units": {"vocab_size": None},  # their blank is `blank_id`
    # initialise parts of the model from a trained system (the recipe's encoder pre-training stage);
    # see prefixasr/model/init.py
    "init": {
        "path": None,  # experiment dir or checkpoint file (.pt) of ours
        "avg": 1,  # with an experiment dir: average this many last epochs
        "modules": ["encoder"],  # copied parts: encoder, encoder_ctc, lid_head, projector[.mlp], transducer, ...
        "freeze": [],  # parts kept frozen during training (e.g. [encoder])
        "widen": [],  # parts of `modules` that may be narrower in the source (copied into the leading slice)
    },
    "rnnt": {
        "decoder_dim": 256,
        "joiner_dim": 256,
        "context_size": 2,
        "prune_range": 5,
        "lm_scale": 0.25,
        "am_scale": 0.0,
        "simple_loss_scale": 0.5,
        "warm_step": 2000,  # simple-loss scale 1.0 -> simple_loss_scale, pruned 0.1 -> 1.0 over this many steps
    },
    "lid": {"hidden_dim": 256},
    "bos_id": 2,
    "eos_id": 3,
    "blank_id": 0,  # null: append blank after the vocabulary (HF tokenizers have no spare id 0)
}


def merge(base: Dict[str, Any], override: Dict[str, Any], where: str = "") -> Dict[str, Any]:
    """Deep-merge `override` into a copy of `base`; unknown keys are an error (typos must not pass)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in out:
            raise ValueError(f"unknown config key {where}{key}; known: {sorted(out)}")
        if key in ("arch", "lr_scales"):  # free-form: any LlamaConfig keyword / any parameter-name prefix
            out[key] = {**out[key], **copy.deepcopy(value)}
        elif isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise TypeError(f"config key {where}{key} must be a mapping")
            out[key] = merge(out[key], value, f"{where}{key}.")
        else:
            out[key] = _coerce(out[key], value, f"{where}{key}")
    return out


def _coerce(default: Any, value: Any, name: str) -> Any:
    """YAML reads `1e-3` (no dot) as a string: turn such strings into the default's numeric type."""
    if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            return float(value) if isinstance(default, float) or not value.lstrip("-").isdigit() else int(value)
        except ValueError:
            raise ValueError(f"config key {name} must be a number, got {value!r}") from None
    return copy.deepcopy(value)


def model_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """Full model section with defaults; accepts a whole system config (with `model:`) or the section."""
    section = config["model"] if "model" in config else config
    cfg = merge(MODEL_DEFAULTS, section or {}, "model.")
    if cfg["prompt"]["type"] not in ("none", "shared", "langid"):
        raise ValueError(f"model.prompt.type must be none, shared or langid; got {cfg['prompt']['type']!r}")
    w = cfg["loss"]
    if cfg["llm"]["type"] == "none" and max(w["rnnt_weight"], w["ctc_weight"], w["encoder_ctc_weight"]) <= 0:
        raise ValueError("model.llm.type=none needs model.loss.rnnt_weight, ctc_weight or encoder_ctc_weight > 0")
    if cfg["llm"]["type"] == "scratch" and cfg["llm"]["freeze"]:
        raise ValueError("model.llm.freeze: true with model.llm.type: scratch would freeze random weights; load a "
                         "pre-trained LM (type: pretrained, path: <the LM stage's hf dir>) or set freeze: false")
    llm = cfg["llm"]
    if llm["lora"]["rank"] > 0 and (llm["type"] != "pretrained" or llm["freeze"]):
        raise ValueError("model.llm.lora.rank > 0 trains adapters on a pretrained LLM's frozen weights: it needs "
                         "model.llm.type: pretrained and model.llm.freeze: false (the adapters are what trains)")
    if cfg["encoder"]["type"] not in ("conformer", "hf", "adapter"):
        raise ValueError(f"model.encoder.type must be conformer, hf or adapter; got {cfg['encoder']['type']!r}")
    if cfg["encoder"]["type"] == "hf" and not cfg["encoder"]["path"]:
        raise ValueError("model.encoder.type=hf needs model.encoder.path (a HF model directory or name)")
    bridge = cfg["projector"]["token_bridge"]
    if bridge not in ("none", "rnnt", "ctc"):
        raise ValueError(f"model.projector.token_bridge must be none, rnnt or ctc; got {bridge!r}")
    if bridge == "ctc" and (cfg["projector"]["stack"] != 1 or w["encoder_ctc_weight"] <= 0):
        raise ValueError("model.projector.token_bridge=ctc needs model.projector.stack=1 and "
                         "model.loss.encoder_ctc_weight > 0")
    if bridge == "rnnt" and w["rnnt_weight"] <= 0:
        raise ValueError("model.projector.token_bridge=rnnt needs model.loss.rnnt_weight > 0")
    compress = cfg["projector"]["compress"]
    if compress not in ("none", "ctc"):
        raise ValueError(f"model.projector.compress must be none or ctc; got {compress!r}")
    if compress == "ctc" and (cfg["projector"]["stack"] != 1 or w["encoder_ctc_weight"] <= 0):
        raise ValueError("model.projector.compress=ctc reads the encoder CTC's labels frame by frame: it needs "
                         "model.projector.stack=1 and model.loss.encoder_ctc_weight > 0")
    if cfg["projector"]["ctc_text"] and w["encoder_ctc_weight"] <= 0:
        raise ValueError("model.projector.ctc_text reads the encoder CTC's best path: it needs "
                         "model.loss.encoder_ctc_weight > 0")
    return cfg
