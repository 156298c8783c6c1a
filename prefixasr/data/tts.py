"""Offline speech for the synthetic corpus: espeak-ng, one call per sentence, 16 kHz float32 out.

A *speaker* is a (voice variant, speed, pitch) triple; the same triple speaks every language, so
speaker disjointness between splits is checked on the triple itself.
"""
from __future__ import annotations

import io
import itertools
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Sequence

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
# espeak-ng voice variants of the train/dev/test speakers: the classic ones plus contributed timbres,
# so that a model has heard more than one voice quality (other voices are what a user's audio brings).
VARIANTS = ([f"m{i}" for i in range(1, 8)] + [f"f{i}" for i in range(1, 5)]
            + ["klatt", "klatt2", "Andy", "Annie", "belinda", "benjamin", "edward", "john", "linda", "max",
               "norbert", "paul", "quincy", "rob", "robert", "steph", "travis", "victor", "zac", "aunty"])
# Variants no train/dev/test speaker uses: only the test_unseen split speaks with them.
UNSEEN_VARIANTS = ["m8", "f5", "klatt4", "Alex", "Gene", "Lee", "Mike", "anika", "grandma", "iven2", "steph2",
                   "michel"]
SPEEDS = [130, 145, 160, 175, 190]
PITCHES = [25, 40, 55, 70, 85]

# Text fixes espeak-ng 1.51 needs, or it spells letters out / drops syllables (notes/synthetic-corpus.md).
_BN_NUKTA = {"\u09a1\u09bc": "\u09dc", "\u09a2\u09bc": "\u09dd", "\u09af\u09bc": "\u09df"}
_ESPEAK_FIXES = {
    "bn": _BN_NUKTA,
    "as": {**_BN_NUKTA, "\u09b0": "\u09f0"},
    "or": {"\u0b71": "\u0b35"},
    "ur": {"\u0643": "\u06a9", "\u064a": "\u06cc", "\u0649": "\u06cc"},
}
# Voice names where espeak-ng's differs from the ISO code we use.
_VOICE = {"en": "en-us"}


@dataclass(frozen=True)
class Speaker:
    variant: str
    speed: int
    pitch: int

    @property
    def id(self) -> str:
        return f"{self.variant}s{self.speed}p{self.pitch}"


def all_speakers(variants: Sequence[str] = VARIANTS) -> List[Speaker]:
    """Every (variant, speed, pitch) combination, in a fixed order (shuffle with a seeded RNG)."""
    return [Speaker(v, s, p) for v, s, p in itertools.product(variants, SPEEDS, PITCHES)]


def espeak_text(text: str, lang: str) -> str:
    """Rewrite `text` into the spelling espeak-ng reads correctly (only for synthesis, not transcripts)."""
    for src, dst in _ESPEAK_FIXES.get(lang, {}).items():
        text = text.replace(src, dst)
    return text


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


@lru_cache(maxsize=4)
def _resampler(orig_sr: int):
    import torchaudio

    return torchaudio.transforms.Resample(orig_sr, SAMPLE_RATE)


def to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    if sr == SAMPLE_RATE:
        return audio.astype(np.float32)
    import torch

    with torch.no_grad():
        return _resampler(sr)(torch.from_numpy(audio.astype(np.float32))).numpy()


def trim_silence(audio: np.ndarray, threshold: float = 1e-3, margin: int = 160) -> np.ndarray:
    """Cut leading/trailing near-silence (keeping `margin` samples) so supervisions hug the speech."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio[:0]
    return audio[max(0, loud[0] - margin): loud[-1] + 1 + margin]


def synthesize(text: str, lang: str, speaker: Speaker) -> np.ndarray:
    """Speak `text` in `lang` with `speaker`; float32 mono at 16 kHz, silence trimmed."""
    voice = f"{_VOICE.get(lang, lang)}+{speaker.variant}"
    # "--": a sentence that begins with "-" is text, not an option (the catalogs have "--help"-like strings)
    cmd = ["espeak-ng", "-v", voice, "-s", str(speaker.speed), "-p", str(speaker.pitch), "--stdout", "--",
           espeak_text(text, lang)]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or len(proc.stdout) <= 44:
        raise RuntimeError(f"espeak-ng failed for voice {voice}: {proc.stderr.decode(errors='replace').strip()}"
                           f" (text: {text!r})")
    audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return trim_silence(to_16k(audio, sr))
