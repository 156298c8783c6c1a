"""lhotse feature extractors of what the encoders read (their `input_kind`; prefixasr/data/features.py names the kinds
and their lhotse feature types), registered with lhotse's `register_extractor`:

- `WhisperLogMelExtractor` (type "whisper-logmel"): Whisper's own log-mel (hf_encoder.WhisperLogMel), 10 ms frames,
  80 bins; what the recipe's feature stage stores for a Whisper encoder (`compute_fbank --kind whisper_mel`) and what
  the loader computes on the fly for it.
- `EncoderOutputs` (type "encoder:<name>"): a frozen pretrained encoder's outputs (log-mel + the Whisper encoder),
  (T', d_model) at the encoder's frame shift (20 ms for Whisper), what `prefixasr.bin.cache_encoder` stores once per
  cut and an adapter (model/adapter.py) trains on. Inputs longer than Whisper's 30 s window are encoded window by
  window (consecutive, positions restarting), the outputs joined.

Both return exactly lhotse's frame count for the audio (`compute_num_frames_from_samples`), the last frame repeated
or dropped as lhotse itself does when it loads features one frame off, so stored and on-the-fly features, cut
lengths and batch lengths agree. `extractor_for(encoder)` gives the extractor of an encoder's input kind.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from lhotse import Fbank, FbankConfig
from lhotse.features.base import FeatureExtractor, register_extractor
from lhotse.utils import compute_num_frames_from_samples

from prefixasr.data.features import (ENCODER_PREFIX, FBANK, FRAME_SHIFT, WAVEFORM, WHISPER_LOGMEL, WHISPER_MEL,
                                     encoder_feature_type)
from prefixasr.model.hf_encoder import HfSpeechEncoder, WhisperLogMel, resolve_path

SAMPLE_RATE = 16000
Samples = Union[np.ndarray, torch.Tensor]


def _mono(samples: Samples, sampling_rate: int, what: str) -> torch.Tensor:
    """(N,) float32 samples of one channel (several are averaged) at 16 kHz."""
    if sampling_rate != SAMPLE_RATE:
        raise ValueError(f"{what} reads 16 kHz audio, got {sampling_rate} Hz: resample the cuts first "
                         "(CutSet.resample(16000))")
    wave = torch.as_tensor(samples, dtype=torch.float32)
    return wave.reshape(-1) if wave.dim() == 1 or wave.size(0) == 1 else wave.mean(0)


def fit_frames(feats: torch.Tensor, num_frames: int) -> torch.Tensor:
    """`feats` with exactly `num_frames` rows: extra rows dropped, missing ones copies of the last."""
    if feats.size(0) >= num_frames:
        return feats[:num_frames]
    return torch.cat([feats, feats[-1:].expand(num_frames - feats.size(0), -1)])


@dataclass
class WhisperLogMelConfig:
    num_mel_bins: int = 80
    device: str = "cpu"

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> "WhisperLogMelConfig":
        return WhisperLogMelConfig(**data)


@register_extractor
class WhisperLogMelExtractor(FeatureExtractor):
    """16 kHz audio -> Whisper's log-mel (frames, num_mel_bins), 10 ms frames: hf_encoder.WhisperLogMel (transformers'
    WhisperFeatureExtractor on the unpadded audio) fitted to lhotse's frame count."""

    name = WHISPER_LOGMEL
    config_type = WhisperLogMelConfig

    def __init__(self, config: Optional[WhisperLogMelConfig] = None) -> None:
        super().__init__(config)
        self.mel = WhisperLogMel(self.config.num_mel_bins).to(self.config.device)

    @property
    def frame_shift(self) -> float:
        return self.mel.hop / SAMPLE_RATE

    @property
    def device(self) -> str:
        return self.config.device

    def feature_dim(self, sampling_rate: int) -> int:
        return self.config.num_mel_bins

    def extract(self, samples: Samples, sampling_rate: int) -> Samples:
        wave = _mono(samples, sampling_rate, "Whisper's log-mel")
        n = compute_num_frames_from_samples(wave.numel(), self.frame_shift, sampling_rate)
        with torch.no_grad():
            mel = fit_frames(self.mel(wave.to(self.device)), n).cpu()
        return mel if isinstance(samples, torch.Tensor) else mel.numpy()


@dataclass
class EncoderOutputsConfig:
    path: str = ""  # the frozen encoder: a Hugging Face or CTranslate2 Whisper directory (model/hf_encoder.py)
    name: str = ""  # features of type "encoder:<name>"; empty: the directory's name
    device: str = "cpu"

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> "EncoderOutputsConfig":
        return EncoderOutputsConfig(**data)


def encoder_name(path: str, name: str = "") -> str:
    """The name of a frozen encoder's cached outputs: `name`, else its directory's name."""
    return name or Path(str(path).rstrip("/")).name


@register_extractor
class EncoderOutputs(FeatureExtractor):
    """16 kHz audio -> a frozen pretrained encoder's outputs (T', d_model), at its own frame shift (input frames per
    output frame x 10 ms; samples per output frame / 16 kHz for waveform encoders). `extract_batch` encodes a list of
    utterances as one padded batch (a batch encodes like its items, hf_encoder.HfSpeechEncoder)."""

    name = "encoder"  # registered; an instance's name (its features' type) is "encoder:<config.name>"
    config_type = EncoderOutputsConfig

    def __init__(self, config: Optional[EncoderOutputsConfig] = None, encoder: Optional[HfSpeechEncoder] = None):
        super().__init__(config)
        if encoder is None:
            if not self.config.path:
                raise ValueError("EncoderOutputs needs the frozen encoder's directory (EncoderOutputsConfig.path)")
            from transformers import AutoConfig

            bins = getattr(AutoConfig.from_pretrained(resolve_path(self.config.path)), "num_mel_bins", 80)
            encoder = HfSpeechEncoder(self.config.path, bins)
        self.encoder = encoder.to(self.config.device).eval().requires_grad_(False)
        self.name = encoder_feature_type(encoder_name(self.config.path, self.config.name))
        self._fbank = Fbank(FbankConfig(num_mel_bins=80)) if encoder.input_kind == FBANK else None
        per_frame = 1 / SAMPLE_RATE if encoder.input_kind == WAVEFORM else FRAME_SHIFT
        self._frame_shift = encoder.subsampling_factor * per_frame
        logging.info("frozen encoder %s (%s): features %r, %.0f ms frames, %d wide", self.config.path,
                     encoder.kind, self.name, 1000 * self._frame_shift, encoder.d_model)

    @property
    def frame_shift(self) -> float:
        return self._frame_shift

    @property
    def device(self) -> str:
        return self.config.device

    def feature_dim(self, sampling_rate: int) -> int:
        return self.encoder.d_model

    def _inputs(self, wave: torch.Tensor) -> List[torch.Tensor]:
        """The encoder's input for one utterance, in windows it can read (Whisper: 30 s of log-mel each)."""
        enc = self.encoder
        if enc.input_kind == WHISPER_MEL:
            mel = enc.frontend(wave.to(self.device))
            return list(mel.split(enc.max_frames)) if mel.size(0) else [mel]
        if enc.input_kind == FBANK:
            return [torch.from_numpy(self._fbank.extract(wave.numpy(), SAMPLE_RATE)).to(self.device)]
        return [wave.to(self.device)]

    @torch.no_grad()
    def extract_batch(self, samples: Sequence[Samples], sampling_rate: int,
                      lengths: Optional[Any] = None) -> List[np.ndarray]:
        """Outputs of a list of utterances, (T'_i, d_model) float32 each, encoded as one padded batch."""
        if lengths is not None:
            samples = [s[: int(n)] for s, n in zip(samples, lengths)]
        waves = [_mono(s, sampling_rate, f"the frozen encoder {self.config.path}") for s in samples]
        windows = [self._inputs(w) for w in waves]
        flat = [x for ws in windows for x in ws]
        lens = torch.tensor([x.size(0) for x in flat], device=self.device)
        batch = torch.nn.utils.rnn.pad_sequence(flat, batch_first=True)
        out, out_lens = self.encoder(batch, lens)
        pieces = iter(o[:n].float().cpu() for o, n in zip(out, out_lens.tolist()))
        result = []
        for wave, ws in zip(waves, windows):
            feats = torch.cat([next(pieces) for _ in ws])
            num_frames = compute_num_frames_from_samples(wave.numel(), self.frame_shift, sampling_rate)
            result.append(fit_frames(feats, num_frames).numpy())
        return result

    def extract(self, samples: Samples, sampling_rate: int) -> Samples:
        out = self.extract_batch([samples], sampling_rate)[0]
        return torch.from_numpy(out) if isinstance(samples, torch.Tensor) else out


def extractor_for(encoder: Any, num_mel_bins: int = 80) -> FeatureExtractor:
    """The lhotse extractor that makes, from 16 kHz audio, what `encoder` reads (its `input_kind`): Kaldi fbank of
    `num_mel_bins` bins (model.input_dim), Whisper's log-mel, or a frozen encoder's outputs for an adapter (from the
    encoder directory it names, `source_path`: model.encoder.path). Waveform encoders read the audio itself."""
    kind = getattr(encoder, "input_kind", FBANK)
    if kind == FBANK:
        return Fbank(FbankConfig(num_mel_bins=num_mel_bins))
    if kind == WHISPER_MEL:
        return WhisperLogMelExtractor(WhisperLogMelConfig(num_mel_bins=int(encoder.frontend.filters.size(1))))
    if kind.startswith(ENCODER_PREFIX):
        path = getattr(encoder, "source_path", None)
        if not path:
            raise ValueError(f"the encoder reads {kind!r} (a frozen encoder's outputs) but names no encoder directory "
                             "to compute them from audio: set model.encoder.path")
        return EncoderOutputs(EncoderOutputsConfig(path=str(path), name=kind[len(ENCODER_PREFIX):]))
    raise ValueError(f"the encoder reads {kind}: no feature extractor makes it (it reads the 16 kHz audio itself)")
