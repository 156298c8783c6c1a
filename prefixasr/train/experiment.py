"""Make an experiment directory self-contained: config with resolved token ids, tokenizer and
language-map copies, the pretrained LLM's architecture config, environment facts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from prefixasr.common import atomic_write
from prefixasr.data.lang import LanguageMap
from prefixasr.data.tokenizer import BLANK_PIECE, Tokenizer
from prefixasr.model.build import EXP_CONFIG, EXP_ENCODER_CONFIG_DIR, EXP_LLM_CONFIG_DIR
from prefixasr.train.config import save_config


def load_data_files(cfg: Dict[str, Any]) -> Tuple[Tokenizer, LanguageMap, Optional[Tokenizer]]:
    """(tokenizer, language map, character tokenizer or None when the system has no encoder CTC)."""
    d = cfg["data"]
    need_chars = cfg["model"]["loss"]["encoder_ctc_weight"] > 0
    for key in ("tokenizer", "lang_map") + (("char_tokenizer",) if need_chars else ()):
        if not d[key]:
            raise ValueError(f"data.{key} is not set: pass data.{key}=<path> or put it in the config")
        if not Path(d[key]).exists():
            raise FileNotFoundError(f"data.{key}: {d[key]} does not exist")
    chars = Tokenizer.load(d["char_tokenizer"]) if need_chars else None
    return Tokenizer.load(d["tokenizer"]), LanguageMap.load(d["lang_map"]), chars


def resolve_token_ids(cfg: Dict[str, Any], tokenizer: Tokenizer, char_tokenizer: Optional[Tokenizer] = None) -> None:
    """BOS/EOS from the tokenizer; blank = id 0 when it is our <blk>, else appended after the vocabulary;
    the encoder CTC's vocabulary from the character tokenizer (its id 0 is <blk> too)."""
    m = cfg["model"]
    m["bos_id"], m["eos_id"] = int(tokenizer.bos_id), int(tokenizer.eos_id)
    m["blank_id"] = 0 if tokenizer.kind == "sentencepiece" and tokenizer.id_to_piece(0) == BLANK_PIECE else None
    if char_tokenizer is not None:
        if char_tokenizer.id_to_piece(0) != BLANK_PIECE:
            raise ValueError(f"data.char_tokenizer: id 0 must be {BLANK_PIECE} (train it with prefixasr.bin.train_tokenizer)")
        m["encoder_ctc"] = {"vocab_size": int(char_tokenizer.vocab_size), "blank_id": 0}
        same = char_tokenizer.vocab_size == tokenizer.vocab_size and all(
            char_tokenizer.id_to_piece(i) == tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size))
        if m["projector"]["token_bridge"] == "ctc" and not same:
            raise ValueError("model.projector.token_bridge=ctc reads the encoder CTC's ids as the LLM's tokens: "
                             "data.char_tokenizer must be data.tokenizer (a character model; the recipe's "
                             "--bpe_type char makes them one)")


def prepare_exp_dir(cfg: Dict[str, Any], exp_dir: Path, env: Dict[str, Any]) -> Dict[str, Any]:
    """Copy tokenizer/lang map into exp_dir, save config.yaml + env.json; returns the saved config."""
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
    if cfg["model"]["loss"]["encoder_ctc_weight"] > 0:
        shutil.copy2(cfg["data"]["char_tokenizer"], exp_dir / "chars.model")
        cfg["exp_files"]["char_tokenizer"] = "chars.model"
    if cfg["decode"]["ngram"]:  # the n-gram LM decoding fuses in (decode.ngram_weight): part of the system
        if not Path(cfg["decode"]["ngram"]).is_file():
            raise FileNotFoundError(f"decode.ngram: {cfg['decode']['ngram']} does not exist "
                                    f"(write it with prefixasr.bin.train_ngram)")
        shutil.copy2(cfg["decode"]["ngram"], exp_dir / "ngram.npz")
        cfg["exp_files"]["ngram"] = "ngram.npz"
    # a pretrained HF part's architecture (config.json), so decoding rebuilds it before loading our weights
    llm, encoder = cfg["model"]["llm"], cfg["model"]["encoder"]
    if llm["type"] == "pretrained" or encoder["type"] == "hf":
        from transformers import AutoConfig

        if llm["type"] == "pretrained":
            AutoConfig.from_pretrained(str(llm["path"])).save_pretrained(str(exp_dir / EXP_LLM_CONFIG_DIR))
        if encoder["type"] == "hf":
            AutoConfig.from_pretrained(str(encoder["path"])).save_pretrained(str(exp_dir / EXP_ENCODER_CONFIG_DIR))
    save_config(cfg, exp_dir / EXP_CONFIG)
    with atomic_write(exp_dir / "env.json") as f:
        json.dump(env, f, indent=2)
        f.write("\n")
    return cfg
