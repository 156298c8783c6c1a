"""utils/validate_data_dir.sh and utils/split_data.sh (prefixasr.bin.split_data) on Kaldi data dirs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHON": sys.executable,
       "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

LANGS = {"spkA": "hi", "spkB": "bn", "spkC": "bn", "spkD": "ta"}
UTTS_PER_SPK = {"spkA": 3, "spkB": 2, "spkC": 4, "spkD": 1}


def make_data_dir(root: Path) -> Path:
    """10 utterances of 4 speakers in 3 languages, 2 segments per recording, audio files present."""
    d = root / "data/train"
    d.mkdir(parents=True)
    (root / "audio").mkdir()
    text, utt2spk, utt2lang, segments, wav, reco2dur, utt2dur = [], [], [], [], [], [], []
    for spk, n in UTTS_PER_SPK.items():
        for i in range(n):
            utt, reco = f"{spk}-u{i}", f"{spk}-r{i // 2}"
            start = 2.0 * (i % 2)
            text.append(f"{utt} शब्द {i}")
            utt2spk.append(f"{utt} {spk}")
            utt2lang.append(f"{utt} {LANGS[spk]}")
            segments.append(f"{utt} {reco} {start:.2f} {start + 1.5:.2f}")
            utt2dur.append(f"{utt} 1.5")
            if i % 2 == 0:
                (root / f"audio/{reco}.wav").write_bytes(b"RIFF")
                wav.append(f"{reco} audio/{reco}.wav")
                reco2dur.append(f"{reco} 4.0")
    files = {"text": text, "utt2spk": utt2spk, "utt2lang": utt2lang, "segments": segments,
             "wav.scp": wav, "reco2dur": reco2dur, "utt2dur": utt2dur,
             "spk2utt": [f"{s} " + " ".join(f"{s}-u{i}" for i in range(n)) for s, n in UTTS_PER_SPK.items()]}
    for name, lines in files.items():
        (d / name).write_text("".join(line + "\n" for line in sorted(lines)), encoding="utf-8")
    return d


def sh(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=60)


def read_keys(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines()]


# ---- validate_data_dir.sh

def test_good_dir_validates(tmp_path: Path) -> None:
    d = make_data_dir(tmp_path)
    r = sh(REPO / "utils/validate_data_dir.sh", "--need-lang", "true", d.relative_to(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "is OK (10 utterances, 4 speakers, 6 recordings, 3 languages)" in r.stdout


BREAKAGES = {
    "duplicate": ("text", lambda s: s + "spkA-u0 again\n", "text:11: duplicate key spkA-u0"),
    "unsorted": ("utt2dur", lambda s: "".join(reversed(s.splitlines(True))), "utt2dur:2: key"),
    "missing_utt": ("utt2lang", lambda s: "".join(s.splitlines(True)[1:]), "utt2lang lacks utterance spkA-u0"),
    "bad_times": ("segments", lambda s: s.replace("spkA-u0 spkA-r0 0.00 1.50", "spkA-u0 spkA-r0 1.50 0.50"),
                  "segments:1: start 1.50 is not before end 0.50"),
    "past_end": ("segments", lambda s: s.replace("spkA-u1 spkA-r0 2.00 3.50", "spkA-u1 spkA-r0 2.00 9.00"),
                 "segments:2: end 9.00 is past the recording length 4.0"),
    "unknown_reco": ("segments", lambda s: s.replace("spkB-u1 spkB-r0", "spkB-u1 spkB-r9"),
                     "recording spkB-r9 is not in"),
    "spk2utt": ("spk2utt", lambda s: s.replace(" spkC-u3", ""), "utterance spkC-u3 of speaker spkC"),
    "bad_duration": ("utt2dur", lambda s: s.replace("spkD-u0 1.5", "spkD-u0 abc"),
                     "utt2dur:10: expected a positive number, got abc"),
    "no_audio": ("wav.scp", lambda s: s.replace("audio/spkD-r0.wav", "audio/gone.wav"),
                 "wav.scp:6: audio file audio/gone.wav does not exist"),
}


@pytest.mark.parametrize("kind", sorted(BREAKAGES))
def test_bad_dir_is_rejected_naming_file_and_line(tmp_path: Path, kind: str) -> None:
    d = make_data_dir(tmp_path)
    name, edit, message = BREAKAGES[kind]
    (d / name).write_text(edit((d / name).read_text(encoding="utf-8")), encoding="utf-8")
    r = sh(REPO / "utils/validate_data_dir.sh", "data/train", cwd=tmp_path)
    assert r.returncode == 1
    assert message in r.stderr, r.stderr
    assert "error(s) in data/train" in r.stderr


def test_invalid_utf8_and_missing_files(tmp_path: Path) -> None:
    d = make_data_dir(tmp_path)
    (d / "text").write_bytes((d / "text").read_bytes().replace("शब्द 2".encode(), b"\xff\xfe 2"))
    (d / "utt2lang").unlink()
    r = sh(REPO / "utils/validate_data_dir.sh", "--need-lang", "true", "data/train", cwd=tmp_path)
    assert r.returncode == 1
    assert "data/train/text:3: not valid UTF-8" in r.stderr
    assert "data/train/utt2lang is missing" in r.stderr


# ---- split_data.sh / prefixasr.bin.split_data

def test_split_by_speaker_keeps_speakers_whole(tmp_path: Path) -> None:
    d = make_data_dir(tmp_path)
    r = sh(REPO / "utils/split_data.sh", d, "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    parts = [d / "split3" / str(i) for i in (1, 2, 3)]
    speakers = [set(read_keys(p / "spk2utt")) for p in parts]
    assert all(speakers) and set().union(*speakers) == set(UTTS_PER_SPK)
    assert sum(len(s) for s in speakers) == 4  # no speaker in two parts
    all_utts = [u for p in parts for u in read_keys(p / "utt2spk")]
    assert all_utts == read_keys(d / "utt2spk")
    for p in parts:  # every part is itself a valid data dir with only its own recordings
        v = sh(REPO / "utils/validate_data_dir.sh", "--need-lang", "true", p.relative_to(tmp_path), cwd=tmp_path)
        assert v.returncode == 0, v.stderr
        recos = {line.split()[1] for line in (p / "segments").read_text().splitlines()}
        assert set(read_keys(p / "wav.scp")) == recos


def test_split_by_speaker_without_speaker_prefixed_ids(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "utt2spk").write_text("".join(f"u{i} {'ab'[i % 2]}\n" for i in range(6)))  # speakers interleave
    (d / "text").write_text("".join(f"u{i} w\n" for i in range(6)))
    r = sh(REPO / "utils/split_data.sh", d, "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [read_keys(d / f"split2/{i}/spk2utt") for i in (1, 2)] == [["a"], ["b"]]
    assert read_keys(d / "split2/2/text") == ["u1", "u3", "u5"]


def test_split_by_utterance_is_balanced(tmp_path: Path) -> None:
    d = make_data_dir(tmp_path)
    r = sh(REPO / "utils/split_data.sh", "--per-utt", d, "4", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sizes = [len(read_keys(d / f"split4utt/{i}/text")) for i in (1, 2, 3, 4)]
    assert sum(sizes) == 10 and max(sizes) - min(sizes) <= 1


def test_split_by_language(tmp_path: Path) -> None:
    d = make_data_dir(tmp_path)
    r = sh(REPO / "utils/split_data.sh", "--per-lang", d, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (d / "split_lang").iterdir()) == ["bn", "hi", "ta"]
    bn = d / "split_lang/bn"
    assert set(read_keys(bn / "spk2utt")) == {"spkB", "spkC"}
    assert {line.split()[1] for line in (bn / "utt2lang").read_text().splitlines()} == {"bn"}
    assert len(read_keys(bn / "text")) == 6


def test_split_is_skipped_when_up_to_date_and_redone_when_stale(tmp_path: Path) -> None:
    d = make_data_dir(tmp_path)
    assert sh(REPO / "utils/split_data.sh", d, "2", cwd=tmp_path).returncode == 0
    r = sh(REPO / "utils/split_data.sh", d, "2", cwd=tmp_path)
    assert r.returncode == 0 and "up to date" in r.stderr
    text = (d / "text").read_text(encoding="utf-8").replace("शब्द 0", "नया 0")
    (d / "text").write_text(text, encoding="utf-8")
    os.utime(d / "text", (os.path.getmtime(d / "split2") + 5,) * 2)
    r = sh(REPO / "utils/split_data.sh", d, "2", cwd=tmp_path)
    assert r.returncode == 0 and "up to date" not in r.stderr
    assert "नया 0" in (d / "split2/1/text").read_text(encoding="utf-8")


@pytest.mark.parametrize("args,message", [
    (["5"], "cannot split 4 speaker"),
    (["--per-utt", "11"], "cannot split 10 utterance(s) into 11"),
])
def test_split_errors(tmp_path: Path, args: list[str], message: str) -> None:
    d = make_data_dir(tmp_path)
    flags = [a for a in args if a.startswith("--")]
    num = [a for a in args if not a.startswith("--")]
    r = sh(REPO / "utils/split_data.sh", *flags, d, *num, cwd=tmp_path)
    assert r.returncode == 1
    assert message in r.stderr
    assert not any(p.name.startswith(".split") for p in d.iterdir())  # no temp dir left behind


def test_split_reports_malformed_lines(tmp_path: Path) -> None:
    d = make_data_dir(tmp_path)
    with open(d / "utt2spk", "a") as f:
        f.write("spkA-u0 spkA\n")
    r = sh(REPO / "utils/split_data.sh", "--per-utt", d, "2", cwd=tmp_path)
    assert r.returncode == 1
    assert "utt2spk:11: duplicate key 'spkA-u0'" in r.stderr
    (d / "utt2lang").unlink()
    (d / "utt2spk").write_text((d / "utt2spk").read_text().splitlines(True)[0])
    r = sh(REPO / "utils/split_data.sh", "--per-lang", d, cwd=tmp_path)
    assert r.returncode == 1 and "needs an utt2lang file" in r.stderr
