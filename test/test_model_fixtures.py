"""Tiny model configs and fake data shared by the model/train tests (no files, no downloads)."""
from __future__ import annotations

import copy
from typing import Any, Dict

import torch

VOCAB = 40
NUM_LANGS = 3

TINY: Dict[str, Any] = {
    "model": {
        "encoder": {"d_model": 32, "num_layers": 2, "num_heads": 2, "ffn_dim": 64, "kernel_size": 5,
                    "dropout": 0.0, "subsampling_channels": 8},
        "projector": {"stack": 2, "hidden_dim": 32, "output_dim": 24},
        "llm": {"type": "scratch", "arch": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                            "num_attention_heads": 2, "num_key_value_heads": 2}},
        "prompt": {"type": "langid", "length": 3, "init": "random"},
        "loss": {"ce_weight": 1.0, "rnnt_weight": 0.5, "ctc_weight": 0.3, "lid_weight": 0.1},
        "rnnt": {"decoder_dim": 16, "joiner_dim": 16, "warm_step": 10},
        "lid": {"hidden_dim": 16},
    }
}


def tiny_config(**model_overrides: Any) -> Dict[str, Any]:
    cfg = copy.deepcopy(TINY)
    for key, value in model_overrides.items():
        if isinstance(value, dict):
            cfg["model"].setdefault(key, {}).update(value)
        else:
            cfg["model"][key] = value
    return cfg


def fake_batch(seed: int = 0, lens=(120, 95, 70)):
    """Random fbank of the given lengths, random targets (ids 4..VOCAB-1), language ids."""
    g = torch.Generator().manual_seed(seed)
    b = len(lens)
    features = torch.randn(b, max(lens), 80, generator=g)
    feature_lens = torch.tensor(lens, dtype=torch.long)
    for i, n in enumerate(lens):
        features[i, n:] = 0.0
    targets = [torch.randint(4, VOCAB, (int(torch.randint(2, 6, (1,), generator=g)),), generator=g).tolist()
               for _ in range(b)]
    lang_ids = torch.arange(b) % NUM_LANGS
    return features, feature_lens, targets, lang_ids
