"""build_model (from a config) and load_model (from an experiment directory)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import yaml
from torch import nn

from prefixasr.common import PathLike
from prefixasr.model.config import model_config
from prefixasr.model.encoder import ConformerEncoder
from prefixasr.model.heads import CtcHead, LanguageIdHead
from prefixasr.model.hf_encoder import HfSpeechEncoder
from prefixasr.checkpoints import read_state_dict
from prefixasr.model.init import freeze_parts
from prefixasr.model.llm import build_llm, freeze, llm_hidden_size
from prefixasr.model.model import SpeechPrefixLM
from prefixasr.model.projector import FrameStackProjector
from prefixasr.model.prompt import LANGUAGE_NAMES, SoftPrompt
from prefixasr.model.transducer import Transducer

# Files the trainer copies into the experiment directory so it is self-contained.
EXP_CONFIG = "config.yaml"
EXP_LLM_CONFIG_DIR = "llm_config"  # the HF config.json of a pretrained LLM (architecture only)
EXP_ENCODER_CONFIG_DIR = "encoder_config"  # the same for a pretrained HF speech encoder


def build_model(
    config: Dict[str, Any],
    vocab_size: int,
    num_languages: int,
    *,
    tokenizer: Any = None,
    languages: Optional[Sequence[str]] = None,
    load_pretrained: bool = True,
) -> SpeechPrefixLM:
    """A SpeechPrefixLM from a system config (or its `model:` section).

    tokenizer/languages are only used to initialise soft prompts from text; load_pretrained=False
    skips reading a pretrained LLM's or HF encoder's weights (they come from our checkpoint instead).
    """
    cfg = model_config(config)
    encoder = build_encoder(cfg, load_weights=load_pretrained)
    enc_dim = encoder.d_model

    llm = None
    if cfg["llm"]["type"] != "none":
        llm = build_llm(cfg["llm"], vocab_size, cfg["bos_id"], cfg["eos_id"], load_weights=load_pretrained)
    prefix_dim = llm_hidden_size(llm) if llm is not None else cfg["projector"]["output_dim"]
    p = cfg["projector"]
    rms = None
    if llm is not None and p["match_llm_scale"]:
        rms = float(llm.get_input_embeddings().weight.detach().float().pow(2).mean().sqrt())
    projector = FrameStackProjector(enc_dim, prefix_dim, stack=p["stack"], hidden_dim=p["hidden_dim"],
                                    output_rms=rms)

    soft_prompt = None
    if llm is not None and cfg["prompt"]["type"] != "none":
        soft_prompt = SoftPrompt(cfg["prompt"]["type"], cfg["prompt"]["length"], prefix_dim, num_languages)
        if cfg["prompt"]["init"] == "text" and tokenizer is not None:
            soft_prompt.init_from_token_ids(llm.get_input_embeddings(), _prompt_init_ids(cfg, tokenizer, languages))

    # RNN-T/CTC vocabulary = tokens + blank; blank_id null appends blank after the tokens
    blank_id = cfg["blank_id"] if cfg["blank_id"] is not None else vocab_size
    out_vocab = max(vocab_size, blank_id + 1)
    w = cfg["loss"]
    transducer = None
    if w["rnnt_weight"] > 0:
        r = cfg["rnnt"]
        transducer = Transducer(
            prefix_dim, out_vocab, blank_id, decoder_dim=r["decoder_dim"], joiner_dim=r["joiner_dim"],
            context_size=r["context_size"], prune_range=r["prune_range"], lm_scale=r["lm_scale"],
            am_scale=r["am_scale"],
        )
    ctc = CtcHead(prefix_dim, out_vocab, blank_id) if w["ctc_weight"] > 0 else None
    lid_head = LanguageIdHead(enc_dim, num_languages, cfg["lid"]["hidden_dim"]) if w["lid_weight"] > 0 else None
    encoder_ctc = None
    if w["encoder_ctc_weight"] > 0:
        e = cfg["encoder_ctc"]
        if not e["vocab_size"]:
            raise ValueError("model.loss.encoder_ctc_weight > 0 needs a character tokenizer (data.char_tokenizer)")
        encoder_ctc = CtcHead(enc_dim, int(e["vocab_size"]), int(e["blank_id"]))

    model = SpeechPrefixLM(cfg, encoder, projector, llm, soft_prompt, transducer, ctc, lid_head, encoder_ctc)
    if model.llm_frozen:
        freeze(model.llm)
    freeze_parts(model, cfg["init"]["freeze"])
    return model


def build_encoder(cfg: Dict[str, Any], load_weights: bool = True) -> nn.Module:
    """Our Conformer from the `model.encoder` keys, or a pretrained HF speech encoder (type hf)."""
    enc = dict(cfg["encoder"])
    kind, path = enc.pop("type"), enc.pop("path")
    if kind == "hf":
        return HfSpeechEncoder(path, cfg["input_dim"], load_weights=load_weights)
    return ConformerEncoder(input_dim=cfg["input_dim"], **enc)


def _prompt_init_ids(cfg: Dict[str, Any], tokenizer: Any, languages: Optional[Sequence[str]]) -> list:
    if cfg["prompt"]["type"] == "shared":
        text = cfg["prompt"]["init_text"]
        return [tokenizer.encode(text) if text else None]
    if languages is None:
        return []
    return [tokenizer.encode(LANGUAGE_NAMES.get(lang, lang)) for lang in languages]


@dataclass
class LoadedModel:
    model: SpeechPrefixLM
    config: Dict[str, Any]
    tokenizer: Any
    lang_map: Any
    char_tokenizer: Any = None  # the encoder CTC's character units, when the system has them
    ngram_path: Optional[str] = None  # the n-gram LM fused into the LLM's search (decode.ngram), when there is one


def _resolve(exp_dir: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else exp_dir / p


def load_model(exp_dir: PathLike, epoch: Optional[int] = None, avg: int = 1, device: str = "cpu") -> LoadedModel:
    """Rebuild the model from exp_dir/config.yaml and load epoch-N.pt (averaging `avg` epochs ending at N).

    epoch=None takes the newest epoch-N.pt (or the newest checkpoint-N.pt when no epoch finished).
    """
    from prefixasr.data.lang import LanguageMap
    from prefixasr.data.tokenizer import Tokenizer

    exp_dir = Path(exp_dir)
    cfg_path = exp_dir / EXP_CONFIG
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found: is {exp_dir} a training experiment directory?")
    with open(cfg_path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    files = config["exp_files"]  # written by the trainer, relative to exp_dir
    tokenizer = Tokenizer.load(_resolve(exp_dir, files["tokenizer"]))
    lang_map = LanguageMap.load(_resolve(exp_dir, files["lang_map"]))
    char_tokenizer = Tokenizer.load(_resolve(exp_dir, files["char_tokenizer"])) if files.get("char_tokenizer") else None
    ngram = str(_resolve(exp_dir, files["ngram"])) if files.get("ngram") else None

    mcfg = model_config(config)
    if mcfg["llm"]["type"] == "pretrained":
        mcfg["llm"]["path"] = str(exp_dir / EXP_LLM_CONFIG_DIR)
    if mcfg["encoder"]["type"] == "hf":
        mcfg["encoder"]["path"] = str(exp_dir / EXP_ENCODER_CONFIG_DIR)
    model = build_model({"model": mcfg}, tokenizer.vocab_size, len(lang_map), load_pretrained=False)

    model.load_state_dict(read_state_dict(exp_dir, avg=avg, epoch=epoch))
    model.to(device).eval()
    return LoadedModel(model=model, config=config, tokenizer=tokenizer, lang_map=lang_map,
                       char_tokenizer=char_tokenizer, ngram_path=ngram)
