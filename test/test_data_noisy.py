"""The robustness copy of a test set (prefixasr/data/noisy.py, prefixasr.bin.make_noisy_set): babble of *other*
speakers at the asked SNR over the speech, reverberation by sox, the same set from the same seed, unreadable
recordings counted and skipped."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

from prefixasr.bin import make_noisy_set as tool
from prefixasr.data.manifests import load_manifests, save_manifests
from prefixasr.data.noisy import NoisyConfig, make_noisy_set, mix_at_snr, speech_power

SR = 16000


def _tone(freq: float, seconds: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _set(root: Path, tones: list[tuple[str, str, float, float]]) -> tuple[RecordingSet, SupervisionSet]:
    """Recordings (id, speaker, tone Hz, amplitude), 2 s each, one supervision over their middle second."""
    recs, sups = [], []
    for rid, spk, freq, amp in tones:
        path = root / f"{rid}.flac"
        sf.write(path, _tone(freq, 2.0, amp), SR)
        recs.append(Recording.from_file(path, recording_id=rid))
        sups.append(SupervisionSegment(id=f"{rid}-0", recording_id=rid, start=0.5, duration=1.0, channel=0,
                                       text="x", language="hi", speaker=spk))
    return RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups)


def _band_energy(audio: np.ndarray, freq: float) -> float:
    spec = np.abs(np.fft.rfft(audio)) ** 2
    hz = np.fft.rfftfreq(audio.size, 1 / SR)
    return float(spec[np.abs(hz - freq) < 20].sum() / spec.sum())


def test_the_mix_has_the_asked_snr_over_the_speech() -> None:
    rng = np.random.default_rng(0)
    speech, noise = rng.normal(size=8000), rng.normal(size=8000) * 7
    for snr in (0.0, 10.0, 20.0):
        added = mix_at_snr(speech, noise, snr, speech_power(speech, [], SR)) - speech
        measured = 10 * np.log10(np.mean(speech ** 2) / np.mean(added ** 2))
        assert measured == pytest.approx(snr, abs=1e-9)
    # the speech's power is that of its supervised segments, not of the pauses around them
    gappy = np.concatenate([np.zeros(SR), np.ones(SR)])
    assert speech_power(gappy, [(1.0, 1.0)], SR) == pytest.approx(1.0)


def test_the_babble_is_other_speakers_at_the_snr_and_the_copy_is_seeded(tmp_path: Path) -> None:
    # a and b are one speaker; b's loud 1 kHz tone must never be in a's babble, c's 300 Hz tone must
    recs, sups = _set(tmp_path, [("a", "s1", 500.0, 0.1), ("b", "s1", 1000.0, 0.5), ("c", "s2", 300.0, 0.1)])
    cfg = NoisyConfig(snr_db=10.0, num_talkers=3, reverb="", seed=1)
    out_recs, out_sups, skipped = make_noisy_set(recs, sups, tmp_path / "noisy", cfg)
    assert skipped == 0 and sorted(out_recs.ids) == ["noisy-a", "noisy-b", "noisy-c"]
    assert [s.id for s in out_sups] == ["noisy-a-0", "noisy-b-0", "noisy-c-0"]
    assert all(s.text == "x" and s.speaker for s in out_sups)
    noisy_a = out_recs["noisy-a"].load_audio()[0]
    assert noisy_a.size == 2 * SR
    assert _band_energy(noisy_a, 1000.0) < 1e-3 < _band_energy(noisy_a, 300.0)
    babble = noisy_a - _tone(500.0, 2.0, 0.1)
    snr = 10 * np.log10(np.mean(_tone(500.0, 1.0, 0.1) ** 2) / np.mean(babble ** 2))
    assert snr == pytest.approx(10.0, abs=0.1)  # flac's 16-bit rounding
    again = make_noisy_set(recs, sups, tmp_path / "again", cfg)[0]["noisy-a"].load_audio()
    other = make_noisy_set(recs, sups, tmp_path / "other", NoisyConfig(reverb="", seed=2))[0]
    assert np.array_equal(again[0], noisy_a)
    assert not np.array_equal(other["noisy-a"].load_audio()[0], noisy_a)


@pytest.mark.needs_tool("sox")
def test_the_reverberation_keeps_the_length_and_changes_the_sound(tmp_path: Path) -> None:
    recs, sups = _set(tmp_path, [("a", "s1", 500.0, 0.1), ("c", "s2", 300.0, 0.1)])
    dry = make_noisy_set(recs, sups, tmp_path / "dry", NoisyConfig(reverb=""))[0]["noisy-a"].load_audio()
    wet = make_noisy_set(recs, sups, tmp_path / "wet", NoisyConfig())[0]["noisy-a"].load_audio()
    assert wet.shape == dry.shape
    assert np.abs(wet - dry).max() > 0.01


def test_the_tool_writes_manifests_and_counts_unreadable_recordings(tmp_path: Path) -> None:
    recs, sups = _set(tmp_path, [("a", "s1", 500.0, 0.1), ("b", "s2", 300.0, 0.1), ("c", "s3", 700.0, 0.1)])
    (tmp_path / "c.flac").write_bytes(b"not audio")
    save_manifests(recs, sups, tmp_path / "manifests", "test")
    argv = ["--manifest-dir", str(tmp_path / "manifests"), "--split", "test", "--output-split", "test_noisy",
            "--audio-dir", str(tmp_path / "audio"), "--reverb", ""]
    assert tool.main(argv) == 0
    out_recs, out_sups = load_manifests(tmp_path / "manifests", "test_noisy")
    assert sorted(out_recs.ids) == ["noisy-a", "noisy-b"] and len(out_sups) == 2
    # one speaker only: no babble to draw, a clear failure and nothing written
    one, one_sups = _set(tmp_path, [("d", "s1", 500.0, 0.1)])
    save_manifests(one, one_sups, tmp_path / "manifests", "solo")
    argv[argv.index("test")] = "solo"
    argv[argv.index("test_noisy")] = "solo_noisy"
    assert tool.main(argv) == 1
    assert not (tmp_path / "manifests" / "solo_noisy_recordings.jsonl.gz").exists()
