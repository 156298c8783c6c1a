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
               results: Optional[PathLike] = None, llm: str = "embed") -> Dict[str, Any]:
    """Average `avg` epochs ending at `epoch` (newest when None) and write the archive `out`.

    `results` is a RESULTS.md whose rows for this system go into the model card. `llm`: where a pretrained LLM's
    weights that our checkpoints do not hold (frozen, or under LoRA) come from: "embed" copies its directory into
    the archive once (with its licence notice), "name" keeps its absolute path (the archive is then small, and
    works where that directory exists). Returns the manifest.
    """
    from prefixasr.model.build import (EXP_CONFIG, EXP_ENCODER_CONFIG_DIR, EXP_LLM_CONFIG_DIR, EXP_LLM_TOKENIZER_DIR,
                                       needs_llm_weights)
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
        if files.get("llm_tokenizer"):  # a pretrained LLM's own tokenizer files
            _copy(exp_dir / files["llm_tokenizer"], staging / EXP_LLM_TOKENIZER_DIR)
            packed_files["llm_tokenizer"] = EXP_LLM_TOKENIZER_DIR
        if files.get("char_tokenizer"):  # the encoder CTC's characters (ctc_greedy)
            _copy(exp_dir / files["char_tokenizer"], staging / "chars.model")
            packed_files["char_tokenizer"] = "chars.model"
        if files.get("ngram"):  # the n-gram LM the system decodes with (decode.ngram_weight)
            _copy(exp_dir / files["ngram"], staging / "ngram.npz")
            packed_files["ngram"] = "ngram.npz"
        packed_cfg = dict(config, exp_files=packed_files)
        llm_source = _place_llm_weights(config, weights, staging, llm)
        notice = Path(str(config["model"].get("llm", {}).get("path") or "")) / "NOTICE.md"
        if config["model"].get("llm", {}).get("type") == "pretrained" and notice.is_file():
            # weights derived from a licensed LLM (fine-tuned into model.pt, or embedded) carry its terms
            _copy(notice, staging / "LLM_NOTICE.md")
        if llm_source is not None:
            packed_cfg["model"] = {**config["model"], "llm": {**config["model"]["llm"], "path": llm_source["path"]}}
        frozen = _place_frozen_encoder(config, staging)
        if frozen is not None:
            packed_cfg["model"] = {**packed_cfg["model"],
                                   "encoder": {**config["model"]["encoder"], "path": frozen["path"]}}
        (staging / ar.CONFIG).write_text(yaml.safe_dump(packed_cfg, sort_keys=False, allow_unicode=True),
                                         encoding="utf-8")
        atomic_save_torch({"model": weights}, staging / ar.WEIGHTS)
        source = {"exp_dir": exp_dir.name, "checkpoints": [p.name for p in paths], "avg": len(paths)}
        if llm_source is not None:
            source["llm_weights"] = llm_source
        if frozen is not None:
            source["frozen_encoder"] = frozen
        (staging / ar.CARD).write_text(model_card(exp_dir, packed_cfg, weights, lang_src, source, results),
                                       encoding="utf-8")
        meta = {"prefixasr_version": __version__, "torch_version": torch.__version__,
                "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "source": source}
        return ar.write_archive(staging, out, meta)


def _place_llm_weights(config: Dict[str, Any], weights: Dict[str, Any], staging: Path,
                       how: str) -> Optional[Dict[str, str]]:
    """Where the packed model's LLM weights are when model.pt lacks them: copied once into `llm/` ("embed"), or
    named by path ("name"). None when model.pt holds them (fine-tuned, or the recipe's own LM trained along)."""
    from prefixasr.model.build import needs_llm_weights

    if how not in ("embed", "name"):
        raise ValueError(f"llm must be embed or name, got {how!r}")
    if not needs_llm_weights(config, weights):
        return None
    src = Path(config["model"]["llm"]["path"])
    if how == "name":
        return {"how": "named", "path": str(src)}
    if not src.is_dir():
        raise FileNotFoundError(f"the LLM to embed, {src}, is not a directory (convert a GGUF file with "
                                f"prefixasr.bin.convert_llm, or pack with --llm name)")
    # the model's own files, not a GGUF it was converted from (which would double the archive)
    shutil.copytree(src, staging / "llm", ignore=shutil.ignore_patterns("*.gguf", ".*"))
    notice = " (its licence notice: llm/NOTICE.md)" if (src / "NOTICE.md").is_file() else ""
    return {"how": "embedded" + notice, "path": "llm"}


def _place_frozen_encoder(config: Dict[str, Any], staging: Path) -> Optional[Dict[str, str]]:
    """An adapter's frozen encoder (model.encoder.type adapter), copied once into `frozen_encoder/`: transcribe runs
    it on new audio to make what the adapter reads (model/extractors.py). None for other encoders (their weights, if
    any, are in model.pt)."""
    from prefixasr.model.hf_encoder import resolve_path

    enc = config["model"].get("encoder") or {}
    if enc.get("type") != "adapter":
        return None
    src = Path(resolve_path(enc["path"])) if enc.get("path") else None  # a CTranslate2 dir: its converted HF dir
    if src is None or not (src / "config.json").is_file():
        raise FileNotFoundError(f"the adapter's frozen encoder {enc.get('path')!r} (model.encoder.path) is not an "
                                "encoder directory; transcribe needs it to read new audio")
    shutil.copytree(src, staging / "frozen_encoder", ignore=shutil.ignore_patterns(".*"))
    return {"how": "embedded", "path": "frozen_encoder", "from": str(src)}


def load_packed(model_dir: PathLike, device: str = "cpu"):
    """A LoadedModel from a packed directory (model.pt holds the final weights; no averaging)."""
    from prefixasr.model.build import load_system

    model_dir = Path(model_dir)
    config = yaml.safe_load((model_dir / ar.CONFIG).read_text(encoding="utf-8"))
    state = torch.load(model_dir / ar.WEIGHTS, map_location="cpu", weights_only=True)["model"]
    return load_system(model_dir, config, state, device)
