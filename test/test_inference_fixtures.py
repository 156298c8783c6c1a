"""A tiny random system saved as an experiment directory exactly the way the trainer writes one
(config.yaml via prepare_exp_dir, tokenizer/ and lang2id.json copies, epoch-N.pt via save_checkpoint),
and synthetic recordings to transcribe. No training: the tests compare tools on the same weights."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

LANGS = ("hi", "ta", "te")
WORDS = "नमस्ते दुनिया भारत भाषा आवाज़ पहचान समय घर पानी किताब सुबह शाम रात दिन".split()

TINY_MODEL = {
    "encoder": {"d_model": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64, "kernel_size": 5,
                "dropout": 0.0, "subsampling_channels": 8},
    # unit-scale prefix (no LLM-scale norm): this barely trained model must write long hypotheses, which the
    # transcribe-equals-decode checks compare word by word
    "projector": {"stack": 2, "hidden_dim": 32, "match_llm_scale": False},
    "llm": {"type": "scratch", "arch": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                        "num_attention_heads": 2, "num_key_value_heads": 2,
                                        "tie_word_embeddings": False}},
    "prompt": {"type": "langid", "length": 2, "init": "random"},
    "loss": {"ce_weight": 1.0, "rnnt_weight": 0.5, "lid_weight": 0.1},
    "rnnt": {"decoder_dim": 16, "joiner_dim": 16},
    "lid": {"hidden_dim": 16},
}


def make_exp_dir(root: Path, lid: bool = True) -> Path:
    from prefixasr.data.lang import LanguageMap
    from prefixasr.data.tokenizer import Tokenizer, train_sentencepiece
    from prefixasr.data.vocab import Vocabularies
    from prefixasr.model import build_model
    from prefixasr.train.checkpoint import save_checkpoint
    from prefixasr.train.config import resolve_config
    from prefixasr.train.experiment import prepare_exp_dir, resolve_token_ids

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(WORDS, size=6)) for _ in range(200)]
    (root / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spm = train_sentencepiece([root / "text.txt"], root / "spm", vocab_size=48)
    LanguageMap.from_languages(LANGS).save(root / "lang2id.json")
    model_cfg = copy.deepcopy(TINY_MODEL)
    if not lid:
        model_cfg["loss"]["lid_weight"] = 0.0
    cfg = resolve_config({"data": {"tokenizer": str(spm), "lang_map": str(root / "lang2id.json")},
                          "model": model_cfg})
    tok = Tokenizer.load(spm)
    resolve_token_ids(cfg, Vocabularies.of(tok))
    exp = root / "exp" / "tiny_system"
    prepare_exp_dir(cfg, exp, env={})
    torch.manual_seed(0)
    model = build_model(cfg, tok.vocab_size, len(LANGS))
    # a random model repeats one token (LLM) or never emits blank (RNN-T): sharpen it so outputs vary
    with torch.no_grad():
        for p in model.llm.parameters():
            if p.dim() > 1:
                p.mul_(1.5)  # enough to vary, not so much that one token repeats for ever
        model.transducer.joiner.output_linear.weight.mul_(8.0)
        model.transducer.joiner.output_linear.bias[model.transducer.blank_id] += 1.0
    for epoch in (1, 2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        save_checkpoint(exp / f"epoch-{epoch}.pt", model=model.state_dict(), step=epoch, epoch=epoch)
    return exp


def speechlike(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Bursts of harmonic 'syllables' separated by pauses: gives the encoder varied input."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate), dtype=np.float32)
    t = int(0.2 * rate)
    while t < len(out):
        n = int(rng.uniform(0.1, 0.35) * rate)
        f0 = rng.uniform(90, 250)
        k = np.arange(min(n, len(out) - t)) / rate
        burst = sum(np.sin(2 * np.pi * f0 * h * k) / h for h in range(1, 5))
        out[t:t + len(k)] = 0.2 * burst * np.hanning(len(k))
        t += n + int(rng.uniform(0.0, 0.6 if rng.random() < 0.8 else 1.5) * rate)
    return out + 0.003 * rng.standard_normal(len(out)).astype(np.float32)
