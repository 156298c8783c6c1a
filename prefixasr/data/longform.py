"""Long-form assembly: one recording = one speaker reading consecutive sentences with natural pauses.

Optional code-switching appends a short English phrase (same speaker, English voice) to an utterance,
and optional background noise is mixed over the whole recording at a chosen SNR. Supervision times
are exact sample offsets of each (silence-trimmed) utterance.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import soundfile as sf
from lhotse import AudioSource, Recording, SupervisionSegment

from prefixasr.data.text import normalize_text
from prefixasr.data.tts import SAMPLE_RATE, Speaker, synthesize


@dataclass
class UttPlan:
    text: str  # native-script sentence as harvested (punctuation kept: espeak pauses on it)
    english: Optional[str] = None  # code-switched phrase appended after the sentence


@dataclass
class RecordingPlan:
    rec_id: str
    split: str
    lang: str
    speaker: Speaker
    utts: List[UttPlan]
    seed: int
    noise_snr: Optional[float] = None  # dB; None = clean
    pause: Tuple[float, float] = (0.3, 1.2)  # seconds between utterances, uniform
    edge: Tuple[float, float] = (0.3, 0.8)  # leading/trailing silence
    audio_dir: str = ""


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    # Mix of white and brown (integrated, leaky) noise: a hum-and-hiss background, not pure hiss.
    white = rng.standard_normal(n)
    brown = np.cumsum(rng.standard_normal(n))
    # Remove drift (a high-pass): subtract an 801-sample moving average, computed in O(n) via cumsum.
    c = np.concatenate([[0.0], np.cumsum(brown)])
    lo = np.clip(np.arange(n) - 400, 0, n)
    hi = np.clip(np.arange(n) + 401, 0, n)
    brown -= (c[hi] - c[lo]) / (hi - lo)
    brown /= np.std(brown) + 1e-9
    return (0.5 * white + brown).astype(np.float32)


def mix_at_snr(audio: np.ndarray, speech_mask: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add noise so that mean speech power / noise power = snr_db (speech power over `speech_mask`)."""
    noise = _noise(rng, len(audio))
    p_speech = float(np.mean(audio[speech_mask] ** 2)) if speech_mask.any() else 1e-4
    p_noise = float(np.mean(noise ** 2))
    noise *= np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    return audio + noise


def assemble(plan: RecordingPlan) -> Tuple[Recording, List[SupervisionSegment], List[str]]:
    """Synthesise and write one long recording (FLAC); return it, its supervisions and skip reasons."""
    rng = np.random.default_rng(plan.seed)
    pieces: List[np.ndarray] = []
    spans: List[Tuple[int, int, str]] = []
    skipped: List[str] = []
    pos = 0

    def silence(lo_hi: Tuple[float, float]) -> None:
        nonlocal pos
        n = int(rng.uniform(*lo_hi) * SAMPLE_RATE)
        pieces.append(np.zeros(n, dtype=np.float32))
        pos += n

    silence(plan.edge)
    for k, utt in enumerate(plan.utts):
        try:
            audio = synthesize(utt.text, plan.lang, plan.speaker)
            text = normalize_text(utt.text, plan.lang)
            if utt.english:
                gap = np.zeros(int(0.08 * SAMPLE_RATE), dtype=np.float32)
                audio = np.concatenate([audio, gap, synthesize(utt.english, "en", plan.speaker)])
                text = f"{text} {normalize_text(utt.english, 'en')}"
        except RuntimeError as e:
            skipped.append(f"{plan.rec_id} utterance {k}: {e}")
            continue
        if len(audio) == 0 or not text:
            skipped.append(f"{plan.rec_id} utterance {k}: espeak-ng produced no audio or text is empty")
            continue
        if spans:
            silence(plan.pause)
        spans.append((pos, len(audio), text))
        pieces.append(audio)
        pos += len(audio)
    silence(plan.edge)
    signal = np.concatenate(pieces)
    if plan.noise_snr is not None:
        mask = np.zeros(len(signal), dtype=bool)
        for start, n, _ in spans:
            mask[start: start + n] = True
        signal = mix_at_snr(signal, mask, plan.noise_snr, rng)
    peak = float(np.max(np.abs(signal))) if len(signal) else 0.0
    if peak > 0.99:  # keep the waveform in range without changing the SNR
        signal *= 0.99 / peak

    path = Path(plan.audio_dir) / plan.split / plan.lang / f"{plan.rec_id}.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(tmp, signal, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(tmp, path)
    rec = Recording(
        id=plan.rec_id, sources=[AudioSource(type="file", channels=[0], source=str(path))],
        sampling_rate=SAMPLE_RATE, num_samples=len(signal), duration=len(signal) / SAMPLE_RATE,
    )
    sups = [
        SupervisionSegment(
            id=f"{plan.rec_id}-{k:03d}", recording_id=plan.rec_id, start=start / SAMPLE_RATE,
            duration=n / SAMPLE_RATE, channel=0, text=text, language=plan.lang, speaker=plan.speaker.id,
        )
        for k, (start, n, text) in enumerate(spans)
    ]
    return rec, sups, skipped
