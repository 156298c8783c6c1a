"""A pretrained speech encoder in place of our Conformer (`model.encoder.type: hf`, `model.encoder.path`): a Hugging
Face model directory or name, or a CTranslate2 Whisper directory (faster-whisper's format, converted once into an
HF directory beside it by `whisper_ct2`), told apart by the files present.

Each encoder reads the input it was trained on, named by its `input_kind`:
- `whisper_mel` (Whisper): Whisper's own log-mel (`WhisperLogMel`: transformers' WhisperFeatureExtractor's filters
  and normalisation, in torch), not Kaldi's fbank. Inputs shorter than Whisper's 30 s window are read as they are,
  not padded to 30 s: the positional table is sliced to the input's length, as CTranslate2 does.
- `waveform` (wav2vec2, HuBERT, WavLM, data2vec-audio, MMS: models whose main input is `input_values`): 16 kHz
  samples, normalised per utterance as their feature extractors do.
- `fbank`: 80-dim Kaldi filterbanks with per-utterance mean/variance normalisation, the recipe's own features:
  Speech2Text as they are, w2v-BERT 2.0 with pairs of frames stacked (SeamlessM4T's feature extractor).
Every encoder (our ConformerEncoder too) has `input_kind`, `subsampling_factor` (input frames, or samples, per
output frame) and `output_lengths(lengths)`.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from prefixasr.common import PathLike
from prefixasr.data.features import FBANK, WAVEFORM, WHISPER_MEL  # the input kinds, one definition
from prefixasr.model import whisper_ct2
from prefixasr.model.encoder import lengths_to_mask, utterance_cmvn

FBANK_MODELS = ("speech_to_text", "wav2vec2-bert")


def resolve_path(path: PathLike, cache_dir: Optional[PathLike] = None) -> str:
    """An HF directory or name as given; a CTranslate2 Whisper directory's converted HF directory (made if needed)."""
    if whisper_ct2.is_ct2_dir(path):
        return str(whisper_ct2.hf_dir(path, cache_dir))
    return str(path)


class WhisperLogMel(nn.Module):
    """16 kHz waveform (N,) -> Whisper's log-mel (N // 160, n_mels), equal to transformers' WhisperFeatureExtractor
    on the unpadded waveform (`padding="longest"`): power STFT (400-sample Hann window, 160-sample hop, the last
    frame dropped), Slaney mel filters, log10, floored at 8 below the utterance's maximum, then (x + 4) / 4."""

    def __init__(self, n_mels: int = 80) -> None:
        super().__init__()
        from transformers import WhisperFeatureExtractor

        fe = WhisperFeatureExtractor(feature_size=n_mels)
        self.n_fft, self.hop = fe.n_fft, fe.hop_length
        # not persistent: they follow the module's device but stay out of state dicts (they come from the config)
        self.register_buffer("filters", torch.from_numpy(fe.mel_filters).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(fe.n_fft), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        stft = torch.stft(wave.float(), self.n_fft, self.hop, window=self.window, return_complex=True)
        power = stft[:, :-1].abs() ** 2
        mel = (self.filters.T @ power).clamp(min=1e-10).log10()
        mel = torch.maximum(mel, mel.max() - 8.0)
        return ((mel + 4.0) / 4.0).T


class HfSpeechEncoder(nn.Module):
    """Input of its `input_kind` (B, T, F) or (B, N) with lengths -> (B, T', hidden) with lengths, zero past each
    length (like ConformerEncoder). The weights live in `self.body`, the HF module itself, so state dicts are HF's.
    `frontend`: the module that makes a Whisper encoder's input from a 16 kHz waveform (None for the others: their
    input is the recipe's fbank, or the waveform itself).

    A batch encodes like its items one by one, except: Speech2Text's subsampling convolutions and w2v-BERT's adapter
    (HF's own code) let the padding reach each utterance's last output frames; wav2vec2 models with group-normalised
    convolutions (`feat_extract_norm: group`, wav2vec2-base) read zero-padded batches without a mask, as HF says."""

    def __init__(self, path: PathLike, input_dim: int, load_weights: bool = True,
                 cache_dir: Optional[PathLike] = None) -> None:
        super().__init__()
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import MODEL_MAPPING

        path = resolve_path(path, cache_dir)
        conf = AutoConfig.from_pretrained(path)
        self.kind = conf.model_type
        cls = MODEL_MAPPING.get(type(conf), None)
        if self.kind == "whisper":
            self.input_kind, bins = WHISPER_MEL, conf.num_mel_bins
        elif self.kind in FBANK_MODELS:
            self.input_kind = FBANK
            bins = conf.input_feat_per_channel * conf.input_channels if self.kind == "speech_to_text" else \
                conf.feature_projection_input_dim // 2
        elif cls is not None and cls.main_input_name == "input_values":
            self.input_kind, bins = WAVEFORM, None
        else:
            raise ValueError(f"model.encoder.path={path} is a {conf.model_type!r} model, not a speech encoder this "
                             "toolkit reads (Whisper, Speech2Text, w2v-BERT, or a waveform encoder such as wav2vec2)")
        if bins is not None and bins != input_dim:
            raise ValueError(f"the encoder at {path} reads {bins}-dim features but model.input_dim is {input_dim}")
        if load_weights:
            logging.info("loading pretrained speech encoder from %s", path)
        self.body = self._load(path, conf, load_weights)
        self.path = path
        has_adapter = bool(getattr(conf, "add_adapter", False))  # wav2vec2-style: strided convolutions on top
        adapter = conf.adapter_stride ** conf.num_adapter_layers if has_adapter else 1
        if self.kind in ("whisper", "speech_to_text"):
            self.d_model = int(conf.d_model)
        else:
            self.d_model = int(conf.output_hidden_size if has_adapter else conf.hidden_size)
        if self.input_kind == WHISPER_MEL:
            self.subsampling_factor = self.body.conv1.stride[0] * self.body.conv2.stride[0]
            self.max_frames = self.subsampling_factor * conf.max_source_positions  # the 30 s window
            self.frontend: Optional[nn.Module] = WhisperLogMel(conf.num_mel_bins)
        elif self.input_kind == WAVEFORM:
            self.subsampling_factor = math.prod(conf.conv_stride) * adapter
            self.normalize = _do_normalize(path)
            self.frontend = None
        else:
            self.subsampling_factor = 2 ** conf.num_conv_layers if self.kind == "speech_to_text" else 2 * adapter
            self.frontend = None

    @staticmethod
    def _load(path: str, conf, load_weights: bool) -> nn.Module:
        """The encoder module: HF's WhisperEncoder or Speech2TextEncoder out of their encoder-decoder models, the
        model itself for encoder-only ones. A converted CTranslate2 directory holds the Whisper encoder alone."""
        from transformers import AutoModel
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        if conf.model_type == "whisper" and (not load_weights or conf.architectures == [whisper_ct2.ENCODER_ONLY]):
            return WhisperEncoder.from_pretrained(path, dtype=torch.float32) if load_weights else WhisperEncoder(conf)
        model = AutoModel.from_pretrained(path, dtype=torch.float32) if load_weights else AutoModel.from_config(conf)
        return model.get_encoder() if conf.model_type in ("whisper", "speech_to_text") else model

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output frames of inputs of `lengths` frames (samples for waveform encoders)."""
        if self.input_kind == WHISPER_MEL:  # conv1 keeps the length, conv2 has stride 2 (kernel 3, padding 1)
            return (lengths - 1) // 2 + 1
        if self.kind == "wav2vec2-bert":  # frames stacked in pairs, an odd last frame dropped
            return self.body._get_feat_extract_output_lengths(lengths // 2)
        return self.body._get_feat_extract_output_lengths(lengths)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lens = self.output_lengths(lengths)
        if self.input_kind == WHISPER_MEL:
            out = self._whisper(inputs, lengths, lens)
        elif self.input_kind == WAVEFORM:
            out = self._waveform(inputs.reshape(inputs.size(0), -1), lengths)
        elif self.kind == "speech_to_text":
            mask = lengths_to_mask(lengths, inputs.size(1)).long()
            out = self.body(input_features=utterance_cmvn(inputs, lengths), attention_mask=mask).last_hidden_state
        else:  # w2v-BERT: (B, T, 80) -> (B, T // 2, 160)
            x = utterance_cmvn(inputs, lengths)
            x = x[:, : x.size(1) // 2 * 2].reshape(x.size(0), x.size(1) // 2, -1)
            mask = lengths_to_mask(lengths // 2, x.size(1)).long()
            out = self.body(input_features=x, attention_mask=mask).last_hidden_state
        return out.masked_fill(~lengths_to_mask(lens, out.size(1))[..., None], 0.0), lens

    def _whisper(self, mel: torch.Tensor, lengths: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """HF WhisperEncoder.forward without its 30 s input check: the same modules, positions sliced to the input,
        padded frames masked out of the convolutions and out of attention."""
        if mel.size(1) > self.max_frames:
            raise ValueError(f"{mel.size(1)} feature frames exceed the Whisper encoder's window of {self.max_frames} "
                             "(30 s): decode long recordings in windows (--window)")
        body = self.body
        # both convolutions read zeros past each length, as for the utterance alone (their own padding)
        valid = lengths_to_mask(lengths, mel.size(1))[:, None, :].to(mel.dtype)
        x = F.gelu(body.conv1(mel.transpose(1, 2) * valid))
        x = F.gelu(body.conv2(x * valid)).transpose(1, 2)
        x = x + body.embed_positions.weight[: x.size(1)]
        x = F.dropout(x, body.dropout, self.training)
        keep = lengths_to_mask(lens, x.size(1))[:, None, None, :]  # (B, 1, 1, T') over keys
        bias = torch.zeros(keep.shape, dtype=x.dtype, device=x.device).masked_fill(~keep, torch.finfo(x.dtype).min)
        for layer in body.layers:
            if not (self.training and body.layerdrop > 0 and float(torch.rand(())) < body.layerdrop):
                x = layer(x, bias)
        return body.layer_norm(x)

    def _waveform(self, wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = lengths_to_mask(lengths, wave.size(1))
        if self.normalize:  # Wav2Vec2FeatureExtractor's zero mean, unit variance over each utterance's samples
            n = lengths.clamp(min=1).to(wave.dtype)[:, None]
            mean = (wave * mask).sum(1, keepdim=True) / n
            var = (((wave - mean) * mask) ** 2).sum(1, keepdim=True) / n
            wave = (wave - mean) * torch.rsqrt(var + 1e-7)
        wave = wave * mask
        # HF: models with layer-normalised convolutions take the mask, group-normalised ones zero padding alone
        attn = mask.long() if self.body.config.feat_extract_norm == "layer" else None
        return self.body(input_values=wave, attention_mask=attn).last_hidden_state


def _do_normalize(path: str) -> bool:
    """A waveform encoder's `do_normalize` (its preprocessor_config.json; True, the common case, without one)."""
    pre = Path(path) / "preprocessor_config.json"
    if not pre.is_file():
        return True
    return bool(json.loads(pre.read_text(encoding="utf-8")).get("do_normalize", True))
