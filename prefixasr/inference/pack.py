"""Pack an experiment directory into a model archive, and load a model from an archive or directory.

A packed directory (what an archive unpacks to) is a minimal experiment directory: config.yaml with
exp_files pointing inside it, the tokenizer, lang2id.json, llm_config/ when the LLM is pretrained, and
model.pt with the averaged weights instead of training checkpoints.
"""
from __future__ import annotations

import datetime
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

import torch
import yaml

from prefixasr import __version__
from prefixasr.common import PathLike, atomic_save_torch
from prefixasr.inference import archive as ar
from prefixasr.inference.card import model_card


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)


def pack_model(exp_dir: PathLike, out: PathLike, epoch: Optional[int] = None, avg: int = 1,
               results: Optional[PathLike] = None) -> Dict[str, Any]:
    """Average `avg` epochs ending at `epoch` (newest when None) and write the archive `out`.

    `results` is a RESULTS.md whose rows for this system go into the model card. Returns the manifest.
    """
    from prefixasr.model.build import EXP_CONFIG, EXP_ENCODER_CONFIG_DIR, EXP_LLM_CONFIG_DIR
    from prefixasr.checkpoints import find_checkpoints, read_state_dict

    exp_dir = Path(exp_dir)
    cfg_path = exp_dir / EXP_CONFIG
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found: is {exp_dir} a training experiment directory?")
    config = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    files = config.get("exp_files") or {}
    for key in ("tokenizer", "lang_map"):
        if key not in files:
            raise KeyError(f"{cfg_path}: exp_files.{key} missing (written by the trainer)")
    tokenizer_src = exp_dir / files["tokenizer"]
    lang_src = exp_dir / files["lang_map"]
    paths = find_checkpoints(exp_dir, epoch=epoch, avg=avg)  # named in the card; read_state_dict averages them
    weights = read_state_dict(exp_dir, avg=avg, epoch=epoch)

    with tempfile.TemporaryDirectory(prefix="prefixasr-pack-") as tmp:
        staging = Path(tmp)
        tok_name = f"tokenizer/{tokenizer_src.name}"
        _copy(tokenizer_src, staging / tok_name)
        _copy(lang_src, staging / ar.LANG_MAP)
        for hf_config in (EXP_LLM_CONFIG_DIR, EXP_ENCODER_CONFIG_DIR):
            if (exp_dir / hf_config).is_dir():
                _copy(exp_dir / hf_config, staging / hf_config)
        packed_files = {**files, "tokenizer": tok_name, "lang_map": ar.LANG_MAP}
        if files.get("char_tokenizer"):  # the encoder CTC's characters (ctc_greedy)
            _copy(exp_dir / files["char_tokenizer"], staging / "chars.model")
            packed_files["char_tokenizer"] = "chars.model"
        if files.get("ngram"):  # the n-gram LM the system decodes with (decode.ngram_weight)
            _copy(exp_dir / files["ngram"], staging / "ngram.npz")
            packed_files["ngram"] = "ngram.npz"
        packed_cfg = dict(config, exp_files=packed_files)
        (staging / ar.CONFIG).write_text(yaml.safe_dump(packed_cfg, sort_keys=False, allow_unicode=True),
                                         encoding="utf-8")
        atomic_save_torch({"model": weights}, staging / ar.WEIGHTS)
        source = {"exp_dir": exp_dir.name, "checkpoints": [p.name for p in paths], "avg": len(paths)}
        (staging / ar.CARD).write_text(model_card(exp_dir, packed_cfg, weights, lang_src, source, results),
                                       encoding="utf-8")
        meta = {"prefixasr_version": __version__, "torch_version": torch.__version__,
                "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "source": source}
        return ar.write_archive(staging, out, meta)


def load_packed(model_dir: PathLike, device: str = "cpu"):
    """A LoadedModel from a packed directory (model.pt holds the final weights; no averaging)."""
    from prefixasr.data.lang import LanguageMap
    from prefixasr.data.tokenizer import Tokenizer
    from prefixasr.model import LoadedModel, build_model
    from prefixasr.model.build import EXP_ENCODER_CONFIG_DIR, EXP_LLM_CONFIG_DIR
    from prefixasr.model.config import model_config

    model_dir = Path(model_dir)
    config = yaml.safe_load((model_dir / ar.CONFIG).read_text(encoding="utf-8"))
    tokenizer = Tokenizer.load(model_dir / config["exp_files"]["tokenizer"])
    lang_map = LanguageMap.load(model_dir / config["exp_files"]["lang_map"])
    chars = config["exp_files"].get("char_tokenizer")
    char_tokenizer = Tokenizer.load(model_dir / chars) if chars else None
    ngram = config["exp_files"].get("ngram")
    mcfg = model_config(config)
    if mcfg["llm"]["type"] == "pretrained":  # architecture from the packed config; weights from model.pt
        mcfg["llm"]["path"] = str(model_dir / EXP_LLM_CONFIG_DIR)
    if mcfg["encoder"]["type"] == "hf":
        mcfg["encoder"]["path"] = str(model_dir / EXP_ENCODER_CONFIG_DIR)
    model = build_model({"model": mcfg}, tokenizer.vocab_size, len(lang_map), load_pretrained=False)
    model.load_state_dict(torch.load(model_dir / ar.WEIGHTS, map_location="cpu", weights_only=True)["model"])
    model.to(device).eval()
    return LoadedModel(model=model, config=config, tokenizer=tokenizer, lang_map=lang_map,
                       char_tokenizer=char_tokenizer, ngram_path=str(model_dir / ngram) if ngram else None)
