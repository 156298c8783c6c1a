"""Each importer on a tiny fake layout built on the fly."""
import numpy as np
import pytest
import soundfile as sf

from prefixasr.bin import import_captions, import_commonvoice, import_fleurs, import_kaldi
from prefixasr.data.importers import ImportError_, import_kaldi as kaldi_lib, parse_captions
from prefixasr.data.manifests import load_manifests


def _wav(path, seconds, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(int(sr * seconds)).astype("float32"), sr)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_kaldi_dir(tmp_path, capsys):
    _wav(tmp_path / "a.wav", 3.0)
    d = tmp_path / "kaldi"
    _write(d / "wav.scp", f"recA {tmp_path / 'a.wav'}\nrecB {tmp_path / 'missing.wav'}\n")
    _write(d / "segments", "u1 recA 0.0 1.5\nu2 recA 1.5 -1\nu3 recB 0 1\n")
    _write(d / "text", "u1 यह वाक्य है।\nu2 दूसरा, वाक्य\nu3 नहीं\n")
    _write(d / "utt2spk", "u1 s1\nu2 s1\nu3 s2\n")
    _write(d / "utt2lang", "u1 hi\nu2 hi\nu3 hi\n")
    out = tmp_path / "manifests"
    assert import_kaldi.main(["--data-dir", str(d), "--split", "train", "--output-dir", str(out)]) == 0
    recs, sups = load_manifests(out, "train")
    assert [r.id for r in recs] == ["recA"]
    by_id = {s.id: s for s in sups}
    assert set(by_id) == {"u1", "u2"}
    assert by_id["u1"].text == "यह वाक्य है" and by_id["u2"].duration == pytest.approx(1.5)
    assert by_id["u2"].language == "hi" and by_id["u2"].speaker == "s1"
    err = capsys.readouterr().err
    assert "recording recB: unreadable audio" in err and "2 supervision(s), 2 skipped" in err


def test_kaldi_errors_name_file_and_line(tmp_path):
    _wav(tmp_path / "a.wav", 1.0)
    d = tmp_path / "kaldi"
    _write(d / "wav.scp", f"u1 {tmp_path / 'a.wav'}\n")
    _write(d / "text", "u1 वाक्य\n")
    _write(d / "utt2spk", "u1 s1\n")
    with pytest.raises(ImportError_, match="utt2lang: file not found"):
        kaldi_lib(d)
    assert len(kaldi_lib(d, language="hi").supervisions) == 1  # whole recording when no segments
    _write(d / "segments", "u1 u1 0.0\n")
    with pytest.raises(ImportError_, match=r"segments:1: expected at least 4 fields"):
        kaldi_lib(d, language="hi")


def test_captions(tmp_path, capsys):
    _wav(tmp_path / "yt" / "talk1.wav", 10.0)
    _write(tmp_path / "yt" / "talk1.hi.vtt", "WEBVTT\n\nNOTE a comment\n\n00:00:01.000 --> 00:00:03.500 align:start\n"
           "<c>नमस्ते</c> दोस्तों।\n\n00:04.000 --> 00:06.000\n\n\n00:00:07.000 --> 00:00:12.000\nआखिरी बात\n\n"
           "00:00:11.000 --> 00:00:13.000\nबाहर\n")
    _wav(tmp_path / "yt" / "talk2.wav", 5.0)
    _write(tmp_path / "yt" / "talk2.srt", "1\n00:00:00,500 --> 00:00:02,000\nவணக்கம்\nநண்பர்களே\n\n")
    _wav(tmp_path / "yt" / "nocap.wav", 1.0)
    out = tmp_path / "m"
    assert import_captions.main(["--audio-dir", str(tmp_path / "yt"), "--language", "ta", "--split", "test",
                                 "--output-dir", str(out)]) == 0
    recs, sups = load_manifests(out, "test")
    assert sorted(r.id for r in recs) == ["talk1", "talk2"]
    s = {x.id: x for x in sups}
    assert s["talk1-0000"].start == 1.0 and s["talk1-0000"].duration == 2.5 and s["talk1-0000"].text == "नमस्ते दोस्तों"
    assert s["talk1-0000"].language == "hi" and s["talk2-0000"].language == "ta"
    assert s["talk2-0000"].text == "வணக்கம் நண்பர்களே"
    assert s["talk1-0002"].end == pytest.approx(10.0)  # clipped to the recording
    err = capsys.readouterr().err
    assert "talk1.hi.vtt:8: empty caption" in err and "no .vtt or .srt caption" in err
    _write(tmp_path / "bad.srt", "1\n00:00:0x,500 --> 00:00:02,000\nx\n")
    with pytest.raises(ImportError_, match=r"bad.srt:2: bad cue timing"):
        parse_captions(tmp_path / "bad.srt")


def test_fleurs_layout(tmp_path):
    root = tmp_path / "fleurs"
    for split in ("train", "dev", "test"):
        rows = []
        for k in range(2):
            name = f"{split}{k}.wav"
            _wav(root / "hi_in" / split / name, 1.0)
            rows.append(f"{k}\t{name}\tयह वाक्य {k}।\tयह वाक्य {k}\tx\t16000\tMALE\n")
        _write(root / "metadata" / "hi_in" / f"{split}.tsv", "".join(rows))
    out = tmp_path / "m"
    assert import_fleurs.main(["--corpus-dir", str(root), "--languages", "hi_in", "--output-dir", str(out),
                               "--work-dir", str(tmp_path / "work")]) == 0
    recs, sups = load_manifests(out, "dev")
    assert len(recs) == 2 and {s.language for s in sups} == {"hi"}
    assert sorted(s.text for s in sups) == ["यह वाक्य 0", "यह वाक्य 1"]
    assert import_fleurs.main(["--corpus-dir", str(root), "--languages", "ta_in", "--output-dir", str(out),
                               "--work-dir", str(tmp_path / "work")]) == 1


def test_commonvoice_layout(tmp_path):
    root = tmp_path / "cv"
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment\n"
    for split in ("train", "dev", "test"):
        _wav(root / "ta" / "clips" / f"{split}.wav", 1.0)
        _write(root / "ta" / f"{split}.tsv", header + f"spk1\t{split}.wav\tஇது ஒரு வாக்கியம்.\t2\t0\t\t\t\t\tta\t\n")
    out = tmp_path / "m"
    assert import_commonvoice.main(["--corpus-dir", str(root), "--languages", "ta", "--output-dir", str(out),
                                    "--work-dir", str(tmp_path / "work")]) == 0
    recs, sups = load_manifests(out, "train")
    assert [s.text for s in sups] == ["இது ஒரு வாக்கியம்"] and sups[0].language == "ta"
    assert import_commonvoice.main(["--corpus-dir", str(root), "--languages", "hi", "--output-dir", str(out),
                                    "--work-dir", str(tmp_path / "work")]) == 1
