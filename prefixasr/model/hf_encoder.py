"""A pretrained Hugging Face speech encoder, by name or local path, in place of our Conformer
(`model.encoder.type: hf`, `model.encoder.path`), for users who have one.

Our features are 80-dim Kaldi filterbanks, so the encoders that read filterbanks fit: Speech2Text-style
(`speech_to_text`, (B, T, 80) as they are) and Whisper-style (`whisper`, a fixed (B, 80, 2 x
max_source_positions) window). Whisper's own log-mel is scaled differently from Kaldi's fbank; fine-tuning
adapts to it, a frozen Whisper would not. Encoders of raw waveforms (wav2vec2, HuBERT) are refused.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from prefixasr.model.encoder import lengths_to_mask

SUPPORTED = ("speech_to_text", "whisper")


class HfSpeechEncoder(nn.Module):
    """fbank (B, T, F) -> (B, T', hidden) with lengths, zero past each length (like ConformerEncoder).

    A batch encodes like its items one by one, except that Speech2Text's subsampling convolutions (HF's own
    code) let the padding's bias reach each utterance's last output frame."""

    def __init__(self, path: str, input_dim: int, load_weights: bool = True) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        conf = AutoConfig.from_pretrained(str(path))
        if conf.model_type not in SUPPORTED:
            raise ValueError(f"model.encoder.path={path} is a {conf.model_type!r} model; the fbank front end "
                             f"fits only {', '.join(SUPPORTED)} encoders (raw-waveform models such as wav2vec2 "
                             "would need their own feature extraction)")
        bins = conf.num_mel_bins if conf.model_type == "whisper" else conf.input_feat_per_channel * conf.input_channels
        if bins != input_dim:
            raise ValueError(f"the encoder at {path} reads {bins}-dim features but model.input_dim is {input_dim}")
        if load_weights:
            logging.info("loading pretrained speech encoder from %s", path)
            model = AutoModel.from_pretrained(str(path), dtype=torch.float32)
        else:  # the weights come from our checkpoint (load_model)
            model = AutoModel.from_config(conf)
        self.body = model.get_encoder()
        self.kind = conf.model_type
        self.d_model = int(conf.d_model)
        self.window = 2 * int(conf.max_source_positions) if self.kind == "whisper" else None

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        if self.kind == "whisper":  # conv1 keeps the length, conv2 has stride 2 (kernel 3, padding 1)
            return (lengths - 1) // 2 + 1
        return self.body._get_feat_extract_output_lengths(lengths)

    def forward(self, features: torch.Tensor, feature_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lens = self.output_lengths(feature_lens)
        if self.kind == "whisper":
            if features.size(1) > self.window:
                raise ValueError(f"{features.size(1)} feature frames exceed the Whisper encoder's window of "
                                 f"{self.window}; decode long audio in windows (--window)")
            x = nn.functional.pad(features, (0, 0, 0, self.window - features.size(1))).transpose(1, 2)
            out = self.body(input_features=x).last_hidden_state[:, : int(lens.max())]
        else:
            mask = lengths_to_mask(feature_lens, features.size(1)).long()
            out = self.body(input_features=features, attention_mask=mask).last_hidden_state
        return out.masked_fill(~lengths_to_mask(lens, out.size(1))[..., None], 0.0), lens
