"""Make an experiment directory self-contained: config with resolved token ids, tokenizer and
language-map copies, the pretrained LLM's architecture config and tokenizer, environment facts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from prefixasr.common import atomic_write
from prefixasr.data.lang import LanguageMap
from prefixasr.data.tokenizer import BLANK_PIECE, Tokenizer
from prefixasr.data.vocab import Vocabularies, llm_tokenizer_path
from prefixasr.model.hf_encoder import resolve_path
from prefixasr.model.llm import check_llm_tokenizer, pretrained_location
from prefixasr.model.build import EXP_CONFIG, EXP_ENCODER_CONFIG_DIR, EXP_LLM_CONFIG_DIR, EXP_LLM_TOKENIZER_DIR
from prefixasr.train.config import save_config


def load_data_files(cfg: Dict[str, Any]) -> Tuple[Vocabularies, LanguageMap]:
    """(the system's vocabularies, language map): the LLM's tokenizer (data/vocab.py: data.llm_tokenizer, a
    pretrained LLM's own, or data.tokenizer), the units (data.tokenizer) and, with an encoder CTC, its characters."""
    d, m = cfg["data"], cfg["model"]
    need_chars = m["loss"]["encoder_ctc_weight"] > 0
    for key in ("tokenizer", "lang_map") + (("char_tokenizer",) if need_chars else ()):
        if not d[key]:
            raise ValueError(f"data.{key} is not set: pass data.{key}=<path> or put it in the config")
        if not Path(d[key]).exists():
            raise FileNotFoundError(f"data.{key}: {d[key]} does not exist")
    units = Tokenizer.load(d["tokenizer"])
    llm_path = llm_tokenizer_path(d, m["llm"]) if m["llm"]["type"] != "none" else d["tokenizer"]
    llm = units if llm_path == str(d["tokenizer"]) else Tokenizer.load(llm_path)
    if m["llm"]["type"] != "none":
        check_llm_tokenizer(m["llm"], llm)
    chars = Tokenizer.load(d["char_tokenizer"]) if need_chars else None
    return Vocabularies(llm, units, chars), LanguageMap.load(d["lang_map"])


def resolve_token_ids(cfg: Dict[str, Any], vocabs: Vocabularies) -> None:
    """BOS/EOS from the LLM's tokenizer; the units' width when they are not the LLM's tokens; blank = id 0 when it
    is our <blk>, else appended after the units; the encoder CTC's vocabulary from the character tokenizer (its id 0
    is <blk> too); whether a BOS leads the LLM's input (model.llm.leading_bos: null = what its tokenizer does)."""
    m = cfg["model"]
    llm, units, chars = vocabs.llm, vocabs.units, vocabs.chars
    m["bos_id"], m["eos_id"] = int(llm.bos_id), int(llm.eos_id)
    m["blank_id"] = 0 if units.kind == "sentencepiece" and units.id_to_piece(0) == BLANK_PIECE else None
    m["units"] = {"vocab_size": None if vocabs.shared else int(units.vocab_size)}
    if m["llm"].get("leading_bos") is None:
        m["llm"]["leading_bos"] = bool(llm.adds_bos)
    if chars is not None:
        if chars.id_to_piece(0) != BLANK_PIECE:
            raise ValueError(f"data.char_tokenizer: id 0 must be {BLANK_PIECE} (train it with prefixasr.bin.train_tokenizer)")
        m["encoder_ctc"] = {"vocab_size": int(chars.vocab_size), "blank_id": 0}


def prepare_exp_dir(cfg: Dict[str, Any], exp_dir: Path, env: Dict[str, Any],
                    vocabs: Optional[Vocabularies] = None) -> Dict[str, Any]:
    """Copy the tokenizers and lang map into exp_dir, save config.yaml + env.json; returns the saved config.

    A pretrained LLM's own tokenizer is written as its tokenizer files only (exp_files.llm_tokenizer); its weights
    stay in its directory, named by an absolute model.llm.path (kept once, not copied into every exp dir)."""
    exp_dir.mkdir(parents=True, exist_ok=True)
    tok_src = Path(cfg["data"]["tokenizer"])
    tok_dst = exp_dir / "tokenizer" / (tok_src.name if tok_src.is_file() else "")
    if tok_src.is_dir():
        shutil.copytree(tok_src, tok_dst, dirs_exist_ok=True)
    else:
        tok_dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tok_src, tok_dst)
    shutil.copy2(cfg["data"]["lang_map"], exp_dir / "lang2id.json")
    cfg["exp_files"] = {"tokenizer": str(tok_dst.relative_to(exp_dir)) or "tokenizer", "lang_map": "lang2id.json"}
    if vocabs is not None and not vocabs.shared:
        vocabs.llm.save(exp_dir / EXP_LLM_TOKENIZER_DIR)
        cfg["exp_files"]["llm_tokenizer"] = EXP_LLM_TOKENIZER_DIR
    if cfg["model"]["llm"]["type"] == "pretrained":
        cfg["model"]["llm"]["path"] = str(Path(cfg["model"]["llm"]["path"]).resolve())
    if cfg["model"]["encoder"]["type"] == "adapter" and cfg["model"]["encoder"]["path"]:
        # the frozen encoder whose cached outputs the adapter reads: what computes them from audio when decoding
        cfg["model"]["encoder"]["path"] = str(Path(cfg["model"]["encoder"]["path"]).resolve())
    if cfg["model"]["loss"]["encoder_ctc_weight"] > 0:
        shutil.copy2(cfg["data"]["char_tokenizer"], exp_dir / "chars.model")
        cfg["exp_files"]["char_tokenizer"] = "chars.model"
    install_ngram(cfg["decode"], cfg["exp_files"], exp_dir)
    # a pretrained HF part's architecture (config.json), so decoding rebuilds it before loading our weights
    llm, encoder = cfg["model"]["llm"], cfg["model"]["encoder"]
    if llm["type"] == "pretrained" or encoder["type"] == "hf":
        from transformers import AutoConfig

        if llm["type"] == "pretrained":
            where, extra = pretrained_location(str(llm["path"]))
            AutoConfig.from_pretrained(where, **extra).save_pretrained(str(exp_dir / EXP_LLM_CONFIG_DIR))
        if encoder["type"] == "hf":
            # a CTranslate2 Whisper directory: the HF directory converted from it (model/hf_encoder.py)
            where = resolve_path(encoder["path"])
            AutoConfig.from_pretrained(where).save_pretrained(str(exp_dir / EXP_ENCODER_CONFIG_DIR))
    save_config(cfg, exp_dir / EXP_CONFIG)
    with atomic_write(exp_dir / "env.json") as f:
        json.dump(env, f, indent=2)
        f.write("\n")
    return cfg


def install_ngram(decode: Dict[str, Any], exp_files: Dict[str, str], exp_dir: Path) -> None:
    """The n-gram LM decoding fuses in (decode.ngram, at decode.ngram_weight) is part of the system: copied into
    exp_dir as exp_files.ngram (an earlier copy removed when the settings name none)."""
    exp_files.pop("ngram", None)
    if not decode["ngram"]:
        (exp_dir / "ngram.npz").unlink(missing_ok=True)
        return
    if not Path(decode["ngram"]).is_file():
        raise FileNotFoundError(f"decode.ngram: {decode['ngram']} does not exist (write it with prefixasr.bin.train_ngram)")
    shutil.copy2(decode["ngram"], exp_dir / "ngram.npz")
    exp_files["ngram"] = "ngram.npz"


def set_decode_settings(exp_dir: Path, decode: Dict[str, Any]) -> List[str]:
    """Make `decode` (a resolved decode: block) the settings of the trained system in exp_dir: its config.yaml's
    block, which decode, pack and transcribe read, and its n-gram copy. Returns the settings that changed."""
    cfg_path = exp_dir / EXP_CONFIG
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found: is {exp_dir} a training experiment directory?")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    old = cfg.get("decode") or {}
    changes = [f"decode.{k}: {old.get(k)!r} -> {v!r}" for k, v in decode.items() if old.get(k) != v]
    install_ngram(decode, cfg.setdefault("exp_files", {}), exp_dir)
    cfg["decode"] = decode
    save_config(cfg, cfg_path)
    return changes
