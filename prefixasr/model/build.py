"""build_model (from a config) and load_model (from an experiment directory)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch
import yaml
from torch import nn

from prefixasr.common import PathLike
from prefixasr.data.vocab import Vocabularies
from prefixasr.model.adapter import build_adapter
from prefixasr.model.config import model_config
from prefixasr.model.encoder import ConformerEncoder
from prefixasr.model.heads import CtcHead, LanguageIdHead
from prefixasr.model.hf_encoder import HfSpeechEncoder
from prefixasr.checkpoints import read_state_dict
from prefixasr.model.init import freeze_parts
from prefixasr.model.llm import LORA_MARK, build_llm, embedding_rms, freeze, llm_hidden_size
from prefixasr.model.model import SpeechPrefixLM
from prefixasr.model.projector import FrameStackProjector
from prefixasr.model.prompt import LANGUAGE_NAMES, SoftPrompt
from prefixasr.model.transducer import Transducer

# Files the trainer copies into the experiment directory so it is self-contained.
EXP_CONFIG = "config.yaml"
EXP_LLM_CONFIG_DIR = "llm_config"  # the HF config.json of a pretrained LLM (architecture only)
EXP_ENCODER_CONFIG_DIR = "encoder_config"  # the same for a pretrained HF speech encoder
EXP_LLM_TOKENIZER_DIR = "llm_tokenizer"  # a pretrained LLM's own tokenizer files (when it is not the units')


def build_model(
    config: Dict[str, Any],
    vocab_size: int,
    num_languages: int,
    *,
    tokenizer: Any = None,
    languages: Optional[Sequence[str]] = None,
    load_pretrained: bool = True,
    vocabs: Optional[Vocabularies] = None,
    load_llm: Optional[bool] = None,
) -> SpeechPrefixLM:
    """A SpeechPrefixLM from a system config (or its `model:` section).

    vocab_size is the LLM's; the RNN-T and prefix CTC are as wide as model.units.vocab_size when that is set (their
    own units, data/vocab.py), else as the LLM's. `vocabs` maps the token bridge's units to the LLM's tokens when
    the two differ. tokenizer/languages only initialise soft prompts from text. load_pretrained=False skips reading
    a pretrained LLM's or HF encoder's weights (they come from our checkpoint instead); load_llm overrides it for
    the LLM alone (a frozen LLM's weights are read from its own directory, not from our checkpoints).
    """
    cfg = model_config(config)
    encoder = build_encoder(cfg, load_weights=load_pretrained)
    enc_dim = encoder.d_model

    llm = None
    if cfg["llm"]["type"] != "none":
        llm = build_llm(cfg["llm"], vocab_size, cfg["bos_id"], cfg["eos_id"],
                        load_weights=load_pretrained if load_llm is None else load_llm)
    prefix_dim = llm_hidden_size(llm) if llm is not None else cfg["projector"]["output_dim"]
    p = cfg["projector"]
    rms = embedding_rms(llm) if llm is not None and p["match_llm_scale"] else None
    projector = FrameStackProjector(enc_dim, prefix_dim, stack=p["stack"], hidden_dim=p["hidden_dim"],
                                    output_rms=rms)

    soft_prompt = None
    if llm is not None and cfg["prompt"]["type"] != "none":
        soft_prompt = SoftPrompt(cfg["prompt"]["type"], cfg["prompt"]["length"], prefix_dim, num_languages)
        if cfg["prompt"]["init"] == "text" and tokenizer is not None:
            soft_prompt.init_from_token_ids(llm.get_input_embeddings(), _prompt_init_ids(cfg, tokenizer, languages))

    # RNN-T/CTC vocabulary = units + blank; blank_id null appends blank after the units
    units = int(cfg["units"]["vocab_size"] or vocab_size)
    blank_id = cfg["blank_id"] if cfg["blank_id"] is not None else units
    out_vocab = max(units, blank_id + 1)
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

    ctc_text = None
    if cfg["projector"]["ctc_text"] and llm is not None:
        if vocabs is None or vocabs.chars is None:
            raise ValueError("model.projector.ctc_text needs the LLM's tokenizer and the encoder CTC's characters")
        ctc_text = vocabs.chars_to_llm
    model = SpeechPrefixLM(cfg, encoder, projector, llm, soft_prompt, transducer, ctc, lid_head, encoder_ctc,
                           bridge_map=_bridge_map(cfg, vocab_size, vocabs), ctc_text=ctc_text)
    if model.llm_frozen:
        freeze(model.llm)
    freeze_parts(model, cfg["init"]["freeze"])
    return model


def _bridge_map(cfg: Dict[str, Any], vocab_size: int, vocabs: Optional[Vocabularies]):
    """(ids, weights) mapping the token bridge's units (the RNN-T's, or the encoder CTC's characters) to the LLM's
    tokens (data/vocab.py), or None without a bridge. Without `vocabs` the units must be the LLM's own tokens."""
    bridge = cfg["projector"]["token_bridge"]
    if bridge == "none" or cfg["llm"]["type"] == "none":
        return None
    width = cfg["units"]["vocab_size"] if bridge == "rnnt" else cfg["encoder_ctc"]["vocab_size"]
    if vocabs is not None:
        units = vocabs.units if bridge == "rnnt" else vocabs.chars
        return vocabs.unit_token_map(units)
    if width and int(width) != vocab_size:
        raise ValueError(f"model.projector.token_bridge={bridge}: its {width} units are not the LLM's {vocab_size} "
                         "tokens, and no tokenizers were given to map one to the other")
    ids = torch.arange(vocab_size)[:, None]
    return ids, torch.ones(vocab_size, 1)


def build_encoder(cfg: Dict[str, Any], load_weights: bool = True) -> nn.Module:
    """Our Conformer from the `model.encoder` keys, a pretrained HF speech encoder (type hf), or an adapter on a
    frozen encoder's cached outputs (type adapter)."""
    enc = dict(cfg["encoder"])
    kind, path, _ = enc.pop("type"), enc.pop("path"), enc.pop("adapter")
    if kind == "adapter":  # on a frozen encoder's cached outputs (model/adapter.py)
        return build_adapter(cfg)
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
    tokenizer: Any  # the LLM's (data/vocab.py); also the units' when `units` is None
    lang_map: Any
    char_tokenizer: Any = None  # the encoder CTC's character units, when the system has them
    ngram_path: Optional[str] = None  # the n-gram LM fused into the LLM's search (decode.ngram), when there is one
    units: Any = None  # the RNN-T's and prefix CTC's units, when they are not the LLM's tokens

    @property
    def vocabs(self) -> Vocabularies:
        if getattr(self, "_vocabs", None) is None:
            self._vocabs = Vocabularies(self.tokenizer, self.units or self.tokenizer, self.char_tokenizer)
        return self._vocabs


def _resolve(root: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else root / p


def needs_llm_weights(config: Dict[str, Any], state: Dict[str, Any]) -> bool:
    """Whether `state` lacks the pretrained LLM's own weights (frozen, or the base under LoRA adapters): they are
    then read from the LLM's directory (model.llm.path), where they are kept once."""
    if model_config(config)["llm"]["type"] != "pretrained":
        return False
    return not any(k.startswith("llm.") and LORA_MARK not in k for k in state)


def load_system(root: Path, config: Dict[str, Any], state: Dict[str, Any], device: str = "cpu") -> LoadedModel:
    """A LoadedModel from a self-contained directory (an experiment dir, or a packed model: config.yaml with
    exp_files relative to `root`) and the weights `state` read from it."""
    from prefixasr.data.lang import LanguageMap
    from prefixasr.data.tokenizer import Tokenizer

    files = config["exp_files"]  # written by the trainer (or the packer), relative to root
    units = Tokenizer.load(_resolve(root, files["tokenizer"]))
    llm_tok = Tokenizer.load(_resolve(root, files["llm_tokenizer"])) if files.get("llm_tokenizer") else units
    lang_map = LanguageMap.load(_resolve(root, files["lang_map"]))
    chars = Tokenizer.load(_resolve(root, files["char_tokenizer"])) if files.get("char_tokenizer") else None
    ngram = str(_resolve(root, files["ngram"])) if files.get("ngram") else None
    vocabs = Vocabularies(llm_tok, units, chars)

    mcfg = model_config(config)
    load_llm = needs_llm_weights(config, state)
    if load_llm:
        weights = _resolve(root, mcfg["llm"]["path"])
        if not (weights.is_file() or any(weights.glob("*.safetensors")) or (weights / "pytorch_model.bin").is_file()):
            raise FileNotFoundError(f"the LLM's weights are not in {root} (a frozen pretrained LLM is kept once, in its "
                                    f"own directory): {weights} not found; install it there (e.g. make -C tools "
                                    f"gemma3-270m) or pack the model with its LLM embedded")
        mcfg["llm"]["path"] = str(weights)
    elif mcfg["llm"]["type"] == "pretrained":  # architecture only; the weights are in `state`
        mcfg["llm"]["path"] = str(root / EXP_LLM_CONFIG_DIR)
    if mcfg["encoder"]["type"] == "hf":
        mcfg["encoder"]["path"] = str(root / EXP_ENCODER_CONFIG_DIR)
    elif mcfg["encoder"]["type"] == "adapter" and mcfg["encoder"].get("path"):  # its frozen encoder (packed: inside)
        inside = _resolve(root, mcfg["encoder"]["path"])
        if inside.exists():  # else as trained: absolute, or relative to where training ran
            mcfg["encoder"]["path"] = str(inside)
    model = build_model({"model": mcfg}, llm_tok.vocab_size, len(lang_map), load_pretrained=False,
                        load_llm=load_llm, vocabs=vocabs)
    model.load_saved_state(state)
    model.to(device).eval()
    return LoadedModel(model=model, config=config, tokenizer=llm_tok, lang_map=lang_map, char_tokenizer=chars,
                       ngram_path=ngram, units=None if vocabs.shared else units)


def load_model(exp_dir: PathLike, epoch: Optional[int] = None, avg: int = 1, device: str = "cpu") -> LoadedModel:
    """Rebuild the model from exp_dir/config.yaml and load epoch-N.pt (averaging `avg` epochs ending at N).

    epoch=None takes the newest epoch-N.pt (or the newest checkpoint-N.pt when no epoch finished).
    """
    exp_dir = Path(exp_dir)
    cfg_path = exp_dir / EXP_CONFIG
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found: is {exp_dir} a training experiment directory?")
    with open(cfg_path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    return load_system(exp_dir, config, read_state_dict(exp_dir, avg=avg, epoch=epoch), device)
