"""A robustness copy of a test set: each recording with babble from other speakers of the same set, at a given SNR
over its speech, in a sox reverberation (the room both the talker and the babble are in).

The copy is a test set like any other (audio files and lhotse manifests named <out_split>_*), so every encoder,
feature kind and decoding method reads it as it reads `test`. Its supervisions are the source's, with the recording
ids prefixed by "<prefix>-" (lhotse's convention for perturbed copies, e.g. "rvb-"). Each recording's babble is drawn
with a generator seeded by the seed and the recording id: the same seed gives the same set. Each file is written to
a temp name and renamed, so an interrupted run leaves no half-written audio.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
from tqdm import tqdm

from prefixasr.common import PathLike, atomic_write


@dataclass
class NoisyConfig:
    snr_db: float = 10.0       # speech (its supervised segments) over babble, in dB
    num_talkers: int = 3       # other recordings summed into the babble, each of another speaker
    reverb: str = "50 50 100"  # sox's reverb effect (reverberance %, HF damping %, room scale %); "" = none
    prefix: str = "noisy"      # recording and supervision ids of the copy: "<prefix>-<source id>"
    seed: int = 0


def sox_reverb(audio: np.ndarray, sampling_rate: int, args: str) -> np.ndarray:
    """`audio` (N,) float32 through sox's `reverb <args>`, same length (the tail past the end is cut)."""
    cmd = ["sox", "-t", "f32", "-r", str(sampling_rate), "-c", "1", "-",
           "-t", "f32", "-r", str(sampling_rate), "-c", "1", "-", "reverb", *args.split()]
    out = subprocess.run(cmd, input=audio.astype(np.float32).tobytes(), capture_output=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"sox reverb {args} failed: {out.stderr.decode(errors='replace').strip()}")
    wet = np.frombuffer(out.stdout, dtype=np.float32)
    return np.pad(wet, (0, max(0, audio.size - wet.size)))[: audio.size]


def speech_power(audio: np.ndarray, segments: Sequence[Tuple[float, float]], sampling_rate: int) -> float:
    """Mean power over the (start, duration) segments in seconds (all of `audio` when there are none)."""
    parts = [audio[int(s * sampling_rate): int((s + d) * sampling_rate)] for s, d in segments]
    parts = [p for p in parts if p.size]
    speech = np.concatenate(parts) if parts else audio
    return float(np.mean(speech.astype(np.float64) ** 2)) if speech.size else 0.0


def babble(num_samples: int, talkers: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The sum of `talkers`, each tiled to `num_samples` from a random offset."""
    out = np.zeros(num_samples, dtype=np.float64)
    for audio in talkers:
        if audio.size == 0:
            continue
        start = int(rng.integers(audio.size))
        reps = -(-(start + num_samples) // audio.size)
        out += np.tile(audio, reps)[start: start + num_samples]
    return out


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, speech_pow: float) -> np.ndarray:
    """speech + noise scaled so that speech_pow / noise power = `snr_db`."""
    noise_pow = float(np.mean(noise ** 2)) if noise.size else 0.0
    if noise_pow == 0.0 or speech_pow == 0.0:
        return speech.astype(np.float64)
    return speech + noise * np.sqrt(speech_pow / (noise_pow * 10 ** (snr_db / 10)))


def _speaker_of(sups: List[SupervisionSegment]) -> str:
    return sups[0].speaker or ""


def make_noisy_set(recordings: RecordingSet, supervisions: SupervisionSet, audio_dir: PathLike,
                   cfg: NoisyConfig) -> Tuple[RecordingSet, SupervisionSet, int]:
    """The noisy copy of a set: (recordings, supervisions, number of recordings skipped). Audio goes to
    <audio_dir>/<language>/<new id>.flac. A recording that cannot be read is skipped, named in the log, and counted;
    one without another speaker in the set has no babble to draw and stops the run (the set is too small)."""
    if cfg.reverb and shutil.which("sox") is None:
        raise RuntimeError("the noisy copy's reverberation needs sox (apt-get install sox), or set its reverb to ''")
    by_rec: Dict[str, List[SupervisionSegment]] = defaultdict(list)
    for sup in supervisions:
        by_rec[sup.recording_id].append(sup)
    audio: Dict[str, np.ndarray] = {}
    skipped = 0
    for rec in recordings:
        if rec.id not in by_rec:
            continue
        try:
            audio[rec.id] = rec.load_audio().mean(axis=0).astype(np.float32)
        except Exception as err:  # noqa: BLE001 -- any unreadable file is counted, named and skipped
            logging.warning("recording %s (%s): unreadable, skipped: %s", rec.id, rec.sources[0].source, err)
            skipped += 1
    recs = [r for r in recordings if r.id in audio]

    out_recs, out_sups = [], []
    for rec in tqdm(recs, desc="noisy copy", unit="rec"):
        sups = by_rec[rec.id]
        speaker = _speaker_of(sups)
        others = [r.id for r in recs if r.id != rec.id and _speaker_of(by_rec[r.id]) != speaker]
        if not others:
            raise ValueError(f"recording {rec.id}: no other speaker in the set to draw babble from")
        new_id = f"{cfg.prefix}-{rec.id}"
        path = Path(audio_dir) / (sups[0].language or "unk") / f"{new_id}.flac"
        rng = np.random.default_rng([cfg.seed, zlib.crc32(rec.id.encode())])
        picks = rng.choice(len(others), size=min(cfg.num_talkers, len(others)), replace=False)
        speech = audio[rec.id]
        noise = babble(speech.size, [audio[others[i]] for i in sorted(picks)], rng)
        power = speech_power(speech, [(s.start, s.duration) for s in sups], rec.sampling_rate)
        mixed = mix_at_snr(speech, noise, cfg.snr_db, power).astype(np.float32)
        if cfg.reverb:
            mixed = sox_reverb(mixed, rec.sampling_rate, cfg.reverb)
        peak = float(np.abs(mixed).max()) if mixed.size else 0.0
        if peak > 0.99:  # no clipping in the file
            mixed *= 0.99 / peak
        with atomic_write(path, "wb") as f:
            sf.write(f, mixed, rec.sampling_rate, format="FLAC")
        out_recs.append(Recording.from_file(path, recording_id=new_id))
        for sup in sups:
            out_sups.append(SupervisionSegment(
                id=f"{cfg.prefix}-{sup.id}", recording_id=new_id, start=sup.start, duration=sup.duration,
                channel=sup.channel, text=sup.text, language=sup.language, speaker=sup.speaker, custom=sup.custom))
    return RecordingSet.from_recordings(out_recs), SupervisionSet.from_segments(out_sups), skipped
