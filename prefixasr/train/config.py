"""System configs: YAML file + `key.path=value` overrides, merged over documented defaults.

A system config has four sections: `data` (paths and loader options), `model` (see
prefixasr/model/config.py), `train` (optimiser, schedule, checkpoints, logging) and `decode` (how the
system is decoded by default: what decode/transcribe use unless told otherwise; prefixasr/decode/settings.py).
A file may start with `include: [other.yaml, ...]` (building blocks from conf/, relative paths), merged in order
underneath the file's own keys.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Sequence

import yaml

from prefixasr.common import PathLike, atomic_write
from prefixasr.decode.settings import DECODE_DEFAULTS
from prefixasr.model.config import merge, model_config

DATA_DEFAULTS: Dict[str, Any] = {
    "train_cuts": None,  # lhotse CutSet with features (egs/<recipe>/data/fbank/train_cuts.jsonl.gz)
    "valid_cuts": None,  # held-out CutSet for the per-epoch validation loss
    # the RNN-T's and the prefix CTC's units, and the LLM's tokens too unless it has its own (data/vocab.py):
    # the recipe's sentencepiece .model (or a Hugging Face tokenizer directory)
    "tokenizer": None,
    # the LLM's tokenizer, when not data.tokenizer; null: a pretrained LLM directory's own tokenizer, else data.tokenizer
    "llm_tokenizer": None,
    "lang_map": None,  # lang2id.json (data/lang/lang2id.json)
    "char_tokenizer": None,  # character sentencepiece model (data/lang/chars.model) for the encoder CTC
    "min_duration": 0.3,  # seconds; shorter cuts are skipped (counted)
    "max_duration_utt": 30.0,  # seconds; longer cuts are skipped (counted)
    "loader": {},  # prefixasr.data.datamodule.DataConfig fields (max_duration, num_workers, spec_augment, ...)
}

TRAIN_DEFAULTS: Dict[str, Any] = {
    "seed": 42,
    "device": "auto",  # auto | cpu | cuda
    "num_epochs": 10,
    "max_steps": 0,  # stop after this many optimiser steps (0: no limit)
    "lr": 1.0e-3,
    "lr_scales": {},  # learning-rate factor per model part, e.g. {llm: 0.1, encoder: 0.5} (parts: model/init.py)
    "betas": [0.9, 0.98],
    "weight_decay": 0.01,
    "warmup_steps": 500,  # linear warm-up, then the schedule
    "schedule": "invsqrt",  # invsqrt | constant | linear (down to 0 at the end of num_epochs)
    "grad_clip": 5.0,
    "accum_grad": 1,  # batches per optimiser step
    "amp": "bf16",  # bf16 autocast on GPU (ignored on CPU) | none
    "log_interval": 20,  # optimiser steps between log lines / tensorboard points
    "save_every_n": 0,  # optimiser steps between checkpoint-N.pt (0: only epoch-N.pt)
    "keep_last_n": 3,  # checkpoint-N.pt files kept
    "scan_pessimistic_batches": True,  # try the largest batch first; fail early with advice
    "num_threads": 0,  # torch CPU threads per process (0: torch's default)
    "valid_cer_utts": 100,  # dev utterances decoded greedily after each epoch for the CER (0: none)
}


TOP_LEVEL = ("data", "model", "train", "decode", "exp_files")


def parse_overrides(overrides: Sequence[str]) -> Dict[str, Any]:
    """["train.lr=2e-4", "data.train_cuts=x.jsonl.gz"] -> nested dict (values parsed as YAML)."""
    out: Dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form section.key=value")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw != "" else None
    return out


def deep_update(base: Dict[str, Any], upd: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in upd.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def resolve_config(raw: Dict[str, Any]) -> Dict[str, Any]:
    """Defaults filled in and every key checked; raises ValueError naming an unknown key."""
    unknown = sorted(set(raw) - set(TOP_LEVEL))
    if unknown:
        raise ValueError(f"unknown top-level config section(s) {unknown}; known: {list(TOP_LEVEL)}")
    cfg = {
        "data": merge({k: v for k, v in DATA_DEFAULTS.items() if k != "loader"},
                      {k: v for k, v in raw.get("data", {}).items() if k != "loader"}, "data."),
        "model": model_config({"model": raw.get("model") or {}}),
        "train": merge(TRAIN_DEFAULTS, raw.get("train") or {}, "train."),
        "decode": merge(DECODE_DEFAULTS, raw.get("decode") or {}, "decode."),
    }
    cfg["data"]["loader"] = dict((raw.get("data") or {}).get("loader") or {})
    if "exp_files" in raw:
        cfg["exp_files"] = dict(raw["exp_files"])
    return cfg


def read_yaml(path: PathLike, _seen: tuple = ()) -> Dict[str, Any]:
    """A config file with its `include:` list (paths relative to the file) merged underneath it."""
    path = Path(path).resolve()
    if path in _seen:
        raise ValueError(f"config include cycle: {' -> '.join(map(str, (*_seen, path)))}")
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    merged: Dict[str, Any] = {}
    for inc in raw.pop("include", None) or []:
        merged = deep_update(merged, read_yaml(path.parent / inc, (*_seen, path)))
    return deep_update(merged, raw)


def load_config(path: PathLike | None, overrides: Sequence[str] = (), base: Dict[str, Any] | None = None) -> Dict[str, Any]:
    """Read YAML (or start from `base`), apply overrides, fill defaults."""
    raw: Dict[str, Any] = copy.deepcopy(base) if base is not None else {}
    if path is not None:
        raw = deep_update(raw, read_yaml(path))
    raw = deep_update(raw, parse_overrides(overrides))
    return resolve_config(raw)


def save_config(cfg: Dict[str, Any], path: PathLike) -> None:
    with atomic_write(Path(path)) as f:
        yaml.safe_dump(cfg, f, sort_keys=False, allow_unicode=True)


# Keys a resumed run may change (training longer; the decode settings, which training never reads and the recipe
# writes after it: prefixasr.bin.set_decode_settings) or that the trainer itself fills in after the first start.
RESUMABLE_CHANGES = ("train.num_epochs", "train.num_steps", "decode.", "model.bos_id", "model.eos_id",
                     "model.blank_id", "model.encoder_ctc.", "model.units.")
# filled in by the trainer when the config leaves them null (experiment.resolve_token_ids)
RESOLVED_WHEN_NULL = ("model.llm.leading_bos",)


def config_changes(saved: Dict[str, Any], new: Dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose value in `new` differs from the interrupted run's `saved` config (keys that `saved`
    lacks or that RESUMABLE_CHANGES allows are skipped): `--resume` stops on these instead of training a
    different system than the one it continues."""
    out = []
    for key, value in new.items():
        name = f"{prefix}{key}"
        if key not in saved or name.startswith(RESUMABLE_CHANGES):
            continue
        if isinstance(value, dict) and isinstance(saved[key], dict):
            out += config_changes(saved[key], value, f"{name}.")
        elif value is None and name in RESOLVED_WHEN_NULL:
            continue
        elif key == "path" and value and saved[key] and Path(value).resolve() == Path(saved[key]).resolve():
            continue  # the saved config holds the absolute path (experiment.prepare_exp_dir)
        elif value != saved[key]:
            out.append(f"{name}: {saved[key]!r} -> {value!r}")
    return out
