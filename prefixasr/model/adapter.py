"""A trainable adapter on a frozen pretrained encoder's cached outputs (`model.encoder.type: adapter`).

The frozen encoder (Whisper base: log-mel + 6 Transformer layers, 512 wide, 20 ms frames) runs once per cut
(`prefixasr.bin.cache_encoder`, lhotse features of type "encoder:<name>"); the adapter is the system's encoder:

    cached (B, T, input_dim) -> LayerNorm -> [stack `stride` frames] -> Linear -> d_model -> Conformer layers

with the layers of our own Conformer (model/encoder.py: padded frames never reach valid ones, so a batch encodes
like its items). `stride` 1 keeps the cached frame rate; 2 stacks pairs of frames (Whisper's 20 ms -> 40 ms, the
Conformer's rate), an odd last frame paired with zeros. Its `input_kind` is the feature type it reads
("encoder:<name>": data/features.py `check_feature_kind` refuses any other), `subsampling_factor` is `stride`
(frames of the cached features per output frame) and `output_lengths` counts in cached frames.

Usage (a system config; conf/encoder/whisper_base.yaml):
    model:
      input_dim: 512                  # the cached outputs' width (Whisper base's d_model)
      encoder: {type: adapter, path: tools/models/whisper-base, d_model: 256, num_layers: 2,
                adapter: {input: whisper-base, stride: 2}}
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from prefixasr.data.features import encoder_feature_type
from prefixasr.model.encoder import ConformerLayer, lengths_to_mask, run_layers


class AdapterEncoder(nn.Module):
    """Cached frozen-encoder outputs (B, T, input_dim) with lengths -> (B, ceil(T / stride), d_model) with lengths,
    zero past each length (like ConformerEncoder)."""

    def __init__(self, input_kind: str, input_dim: int, d_model: int = 256, num_layers: int = 2, num_heads: int = 4,
                 ffn_dim: int = 1024, kernel_size: int = 15, dropout: float = 0.1, stride: int = 1,
                 pos_enc: str = "none", xscale: bool = False, source_path: Optional[str] = None) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"model.encoder.adapter.stride must be 1 or 2, got {stride}")
        if pos_enc not in ("sinusoidal", "none"):
            raise ValueError(f"encoder pos_enc must be sinusoidal or none, got {pos_enc!r}")
        self.input_kind = input_kind
        self.input_dim, self.d_model = int(input_dim), int(d_model)
        self.subsampling_factor = stride
        self.source_path = source_path  # the frozen encoder's directory: audio -> our input (model/extractors.py)
        self.pos_enc = pos_enc
        self.xscale = math.sqrt(d_model) if xscale else 1.0
        self.norm = nn.LayerNorm(input_dim)
        self.proj = nn.Linear(input_dim * stride, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            ConformerLayer(d_model, num_heads, ffn_dim, kernel_size, dropout) for _ in range(num_layers)
        )

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output frames of inputs of `lengths` cached frames."""
        return (lengths + self.subsampling_factor - 1) // self.subsampling_factor

    def forward(self, features: torch.Tensor, feature_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, _ = features.shape
        x = self.norm(features).masked_fill(~lengths_to_mask(feature_lens, t)[..., None], 0.0)
        s = self.subsampling_factor
        if s > 1:
            x = nn.functional.pad(x, (0, 0, 0, (-t) % s)).reshape(b, -1, s * x.size(-1))
        lens = self.output_lengths(feature_lens)
        return run_layers(self.proj(x) * self.xscale, lens, self.layers, self.pos_enc, self.dropout)


def adapter_input(enc_cfg: Dict[str, Any]) -> str:
    """The feature type an adapter of `model.encoder` keys reads: "encoder:<adapter.input>", the name defaulting to
    the frozen encoder directory's (`path`), as prefixasr.bin.cache_encoder names its outputs by default."""
    name = enc_cfg["adapter"]["input"] or (Path(str(enc_cfg["path"]).rstrip("/")).name if enc_cfg["path"] else None)
    if not name:
        raise ValueError("model.encoder.type=adapter needs model.encoder.adapter.input (the name of the cached "
                         "encoder outputs, prefixasr.bin.cache_encoder --name) or model.encoder.path")
    return encoder_feature_type(name)


def build_adapter(cfg: Dict[str, Any]) -> AdapterEncoder:
    """The adapter from a resolved `model:` section (prefixasr/model/config.py): `input_dim` is the cached outputs'
    width; `encoder` gives d_model, num_layers, num_heads, ffn_dim, kernel_size, dropout, pos_enc, xscale, `path`
    (the frozen encoder, for computing inputs from audio) and `adapter` (input, stride)."""
    enc = cfg["encoder"]
    return AdapterEncoder(
        adapter_input(enc), cfg["input_dim"], d_model=enc["d_model"], num_layers=enc["num_layers"],
        num_heads=enc["num_heads"], ffn_dim=enc["ffn_dim"], kernel_size=enc["kernel_size"], dropout=enc["dropout"],
        stride=int(enc["adapter"]["stride"]), pos_enc=enc["pos_enc"], xscale=bool(enc["xscale"]),
        source_path=str(enc["path"]) if enc["path"] else None,
    )
