"""Audio input: every container and rate ends up 16 kHz mono with the same content; bad input is one clear error."""
import numpy as np
import pytest
import soundfile as sf
import torch

from prefixasr.inference.audio import SAMPLE_RATE, AudioError, load_audio

torch.set_num_threads(1)


def tone(rate: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x))
    return float(np.argmax(spec) * SAMPLE_RATE / len(x))


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_any_rate_resampled_to_16k(tmp_path, rate):
    path = tmp_path / "a.wav"
    sf.write(path, tone(rate), rate)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - SAMPLE_RATE) <= 1
    assert abs(dominant_freq(x) - 440.0) < 3.0
    assert abs(np.abs(x).max() - 0.3) < 0.03  # no gain change


def test_stereo_is_mixed_down(tmp_path):
    left, right = tone(16000, freq=300.0), tone(16000, freq=900.0)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 16000)
    x = load_audio(tmp_path / "s.wav")
    assert np.allclose(x, 0.5 * (left + right), atol=1e-4)
    # arrays: (channels, time) as torch users hold them, and (time, channels) as soundfile gives them
    assert np.allclose(load_audio(torch.from_numpy(np.stack([left, right])), sample_rate=16000), x, atol=1e-4)
    assert np.allclose(load_audio(np.stack([left, right], axis=1), sample_rate=16000), x, atol=1e-4)


@pytest.mark.parametrize("fmt,subtype", [("flac", None), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_compressed_formats(tmp_path, fmt, subtype):
    if fmt.upper() not in sf.available_formats():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot write {fmt}")
    path = tmp_path / f"a.{fmt}"
    sf.write(path, tone(22050), 22050, **({"subtype": subtype} if subtype else {}))
    x = load_audio(path)
    assert abs(len(x) / SAMPLE_RATE - 1.0) < 0.1  # codecs pad a little
    assert abs(dominant_freq(x) - 440.0) < 3.0


def test_tensor_input_needs_rate_and_is_resampled():
    x = torch.from_numpy(tone(8000))
    with pytest.raises(AudioError, match="sample_rate is required"):
        load_audio(x)
    y = load_audio(x, sample_rate=8000)
    assert abs(len(y) - SAMPLE_RATE) <= 1


def test_bad_inputs_name_the_file(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(400, dtype=np.float32), 16000)
    (tmp_path / "adir").mkdir()
    cases = [(tmp_path / "missing.wav", "no such file"), (tmp_path / "adir", "is a directory"), (empty, "empty audio"),
             (junk, "cannot read audio"), (short, "too short")]
    for path, reason in cases:
        with pytest.raises(AudioError) as e:
            load_audio(path)
        msg = str(e.value)
        assert msg.startswith(str(path)) and reason in msg and "\n" not in msg
    with pytest.raises(AudioError, match="NaN"):
        load_audio(np.full(16000, np.nan, dtype=np.float32), sample_rate=16000)
