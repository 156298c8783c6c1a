"""User audio in, 16 kHz mono float32 out: files (wav/flac/mp3/ogg via libsndfile), numpy arrays, tensors.

Models are trained on 16 kHz fbank, so every input is mixed down to mono and resampled here, once,
before feature extraction. Problems are raised as `AudioError` with a message that names the input.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

if TYPE_CHECKING:  # torch is imported only when a tensor or resampling needs it
    import torch

SAMPLE_RATE = 16000
# Below this the conv subsampling (x4) and frame stacking leave no speech-prefix frame at all.
MIN_DURATION = 0.1

AudioInput = Union[str, os.PathLike, np.ndarray, "torch.Tensor"]


class AudioError(ValueError):
    """An input that cannot be transcribed; str() is the one-line message for the user."""


def read_audio_file(path: Union[str, os.PathLike]) -> tuple[np.ndarray, int]:
    """(samples (T,) or (T, C) float32, sample rate) of an audio file."""
    import soundfile as sf

    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as e:  # libsndfile's errors are RuntimeError/LibsndfileError with a useful text
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AudioError(f"{path}: cannot read audio ({reason})") from None
    return data, int(sr)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels. 2-D input may be (time, channels) or (channels, time): the shorter axis
    is taken as channels, since no real recording has more channels than samples."""
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise AudioError(f"audio must be 1-D (samples) or 2-D (channels x samples), got shape {samples.shape}")
    axis = 0 if samples.shape[0] < samples.shape[1] else 1
    return samples.mean(axis=axis)


def resample(samples: np.ndarray, orig_rate: int, new_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited (sinc) resampling with torchaudio; a no-op at the target rate."""
    if orig_rate == new_rate:
        return samples
    import torch
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), orig_rate, new_rate)
    return out.numpy()


def load_audio(audio: AudioInput, sample_rate: Optional[int] = None, name: Optional[str] = None) -> np.ndarray:
    """Any supported input -> (T,) float32 at 16 kHz, mono.

    `sample_rate` is required for arrays/tensors and ignored for files (the file header says it).
    `name` is what error messages call the input (default: the path, or "<array>").
    """
    if isinstance(audio, (str, os.PathLike)):
        name = name or str(audio)
        samples, sr = read_audio_file(audio)
    else:
        name = name or "<array>"
        if sample_rate is None:
            raise AudioError(f"{name}: sample_rate is required with an array or tensor input")
        if hasattr(audio, "detach"):  # torch.Tensor
            audio = audio.detach().cpu().float().numpy()
        samples, sr = np.asarray(audio, dtype=np.float32), int(sample_rate)
    if sr <= 0:
        raise AudioError(f"{name}: invalid sample rate {sr}")
    try:
        samples = to_mono(samples)
    except AudioError as e:
        raise AudioError(f"{name}: {e}") from None
    if samples.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if not np.isfinite(samples).all():
        raise AudioError(f"{name}: audio contains NaN or infinite samples")
    samples = resample(samples.astype(np.float32, copy=False), sr)
    duration = len(samples) / SAMPLE_RATE
    if duration < MIN_DURATION:
        raise AudioError(f"{name}: audio too short ({duration:.3f} s < {MIN_DURATION} s)")
    return samples
