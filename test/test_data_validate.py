"""Validation: each bad-input kind gets a message naming the item and a count; exit status rules."""
import numpy as np
import soundfile as sf
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

from prefixasr.bin import validate_manifests
from prefixasr.data.manifests import load_manifests, save_manifests
from prefixasr.data.validate import validate


def _rec(tmp_path, name, seconds=2.0, sr=16000):
    path = tmp_path / f"{name}.wav"
    sf.write(path, np.zeros(int(sr * seconds), dtype="float32"), sr)
    return Recording.from_file(path, recording_id=name)


def _bad_corpus(tmp_path):
    good = _rec(tmp_path, "good")
    missing = _rec(tmp_path, "missing")
    (tmp_path / "missing.wav").unlink()
    garbage = _rec(tmp_path, "garbage")
    (tmp_path / "garbage.wav").write_bytes(b"not audio at all")
    rate8k = _rec(tmp_path, "rate8k", sr=8000)
    lie = _rec(tmp_path, "lie")
    lie.sampling_rate = 8000  # manifest disagrees with the file
    sup = lambda i, r, s=0.0, d=1.0, t="यह ठीक है", l="hi": SupervisionSegment(i, r, s, d, text=t, language=l)
    sups = [
        sup("ok", "good"), sup("zero", "good", d=0.0), sup("over", "good", s=1.5, d=1.0), sup("empty", "good", t=" "),
        sup("punct", "good", t="।, !"), sup("lang", "good", l="fr"), sup("nolang", "good", l=None),
        sup("norec", "ghost"), sup("m", "missing"), sup("g", "garbage"), sup("sr", "rate8k"), sup("l", "lie"),
    ]
    return RecordingSet.from_recordings([good, missing, garbage, rate8k, lie]), SupervisionSet.from_segments(sups)


def test_every_kind_is_reported_and_counted(tmp_path):
    recs, sups = _bad_corpus(tmp_path)
    report = validate(recs, sups, languages=["hi", "ta"], sample_rate=16000)
    assert [s.id for s in report.supervisions] == ["ok"] and [r.id for r in report.recordings] == ["good"]
    assert report.kinds == {
        "zero-length": 1, "out-of-range": 1, "empty-text": 1, "unnormalisable-text": 1, "unknown-language": 2,
        "unknown-recording": 1, "missing-audio": 1, "unreadable-audio": 1, "sample-rate": 2, "bad-recording": 4,
    }
    text = "\n".join(report.problems)
    for item in ("supervision zero ", "supervision over ", "supervision empty ", "supervision punct ",
                 "supervision lang ", "supervision nolang ", "supervision norec ", "recording missing:",
                 "recording garbage:", "recording rate8k:", "recording lie:"):
        assert item in text, item
    # every input supervision is either kept or named in a problem
    assert len(report.supervisions) + sum(v for k, v in report.kinds.items() if "recording" in k or k not in
                                          ("missing-audio", "unreadable-audio", "sample-rate")) == len(sups)


def test_cli_exit_status(tmp_path, capsys):
    recs, sups = _bad_corpus(tmp_path)
    save_manifests(recs, sups, tmp_path / "m", "train")
    args = ["--manifest-dir", str(tmp_path / "m"), "--splits", "train", "--languages", "hi"]
    assert validate_manifests.main(args + ["--output-dir", str(tmp_path / "v")]) == 0
    err = capsys.readouterr().err
    assert "train: 1/12 supervisions usable" in err and "missing-audio 1" in err
    assert "train: zero-length: supervision zero (recording good): duration 0.0" in err
    assert len(load_manifests(tmp_path / "v", "train")[1]) == 1
    assert validate_manifests.main(args + ["--strict"]) == 1
    only_bad = SupervisionSet.from_segments([s for s in sups if s.id != "ok"])
    save_manifests(recs, only_bad, tmp_path / "m", "dev")
    assert validate_manifests.main(["--manifest-dir", str(tmp_path / "m"), "--splits", "dev"]) == 1
    assert "dev: nothing usable remains" in capsys.readouterr().err
