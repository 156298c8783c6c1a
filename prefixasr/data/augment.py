"""Augmented copies of a training set, with lhotse's own transforms, made before the features (fbank, Whisper's
log-mel, or a frozen encoder's cached outputs) so that every encoder trains on the same copies:

- speed:  0.9x and 1.1x (`perturb_speed`; ids "<id>_sp0.9", "<id>_sp1.1"), as icefall and ESPnet;
- noise:  each utterance mixed (`CutSet.mix`) with another training utterance (babble) or synthetic coloured noise
          (white, pink or brown), at an SNR drawn from 10-20 dB, at a random offset (ids "<id>_noise");
- reverb: each utterance through a random room's impulse response (`reverb_rir` with lhotse's fast random RIR
          generator; the room and the distance are drawn from seeds of the cut's id, the virtual sources from torch's
          generator, which the feature tools seed; ids "<id>_rvb").

Each kind adds one copy per utterance (speed two), on top of the clean set. The copies are reproducible from `seed`.
A mixed copy's features are of the mix (lhotse's `mix_eagerly`): its cut keeps the supervisions, not the audio.
"""
from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np
from lhotse import CutSet, Recording
from lhotse.cut import Cut
from lhotse.utils import fastcopy

AUGMENTATIONS = ("speed", "noise", "reverb")
NOISE_SNR_DB = (10.0, 20.0)
NOISE_SECONDS = 30.0
SAMPLE_RATE = 16000


def colored_noise(color: str, seconds: float, seed: int) -> np.ndarray:
    """Unit-power noise with a 1/f^a power spectrum: white (a=0), pink (1), brown (2)."""
    exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[color]
    n = int(seconds * SAMPLE_RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum *= np.where(freqs > 0, np.maximum(freqs, 20.0), 20.0) ** (-exponent / 2)
    wave = np.fft.irfft(spectrum, n)
    return (0.1 * wave / np.sqrt(np.mean(wave ** 2))).astype(np.float32)


def noise_cuts(seed: int = 0) -> CutSet:
    """Three synthetic noises (white, pink, brown), 30 s each, held in memory (the mixed copies' features are
    computed from them, and no file is written)."""
    import io

    import soundfile as sf

    cuts = []
    for i, color in enumerate(("white", "pink", "brown")):
        buf = io.BytesIO()
        sf.write(buf, colored_noise(color, NOISE_SECONDS, seed + i), SAMPLE_RATE, format="FLAC")
        rec = Recording.from_bytes(buf.getvalue(), recording_id=f"noise-{color}")
        cuts.append(rec.to_cut())
    return CutSet.from_cuts(cuts)


def _reverberated(cut: Cut, seed: int) -> Cut:
    key = zlib.crc32(cut.id.encode("utf-8"))
    return cut.reverb_rir(room_rng_seed=seed + key, source_rng_seed=seed + key + 1)


def augment(cuts: CutSet, kinds: Sequence[str], seed: int = 0) -> CutSet:
    """`cuts` followed by their augmented copies of each of `kinds` (AUGMENTATIONS), in that order."""
    unknown = sorted(set(kinds) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}: choose from {', '.join(AUGMENTATIONS)}")
    cuts = cuts.to_eager()
    parts = [cuts]
    if "speed" in kinds:
        parts += [cuts.perturb_speed(0.9), cuts.perturb_speed(1.1)]
    if "noise" in kinds:
        # the babble's words are not the utterance's: the pool's cuts carry no supervisions into the mix
        pool = CutSet.from_cuts(fastcopy(c, supervisions=[]) for c in cuts) + noise_cuts(seed)
        mixed = cuts.mix(pool, snr=NOISE_SNR_DB, seed=seed, random_mix_offset=True, preserve_id="left")
        parts.append(mixed.modify_ids(lambda cut_id: f"{cut_id}_noise"))
    if "reverb" in kinds:
        parts.append(CutSet.from_cuts(_reverberated(c, seed) for c in cuts))
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return out.to_eager()
