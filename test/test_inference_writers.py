"""Output writers: SRT/VTT parse with a strict grammar, times monotonic and inside the audio; json/ctm/txt."""
import json
import random
import re

from prefixasr.decode.longform import Word
from prefixasr.inference.result import Transcription, clean_words, make_segments
from prefixasr.inference.writers import render, write_outputs

SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+)\n")
VTT_CUE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)\n(.+)\n")


def _secs(h, m, s, ms):
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text):
    blocks = text.split("\n\n")
    cues = []
    for k, block in enumerate(blocks, start=1):
        m = SRT_CUE.fullmatch(block if block.endswith("\n") else block + "\n")
        assert m, f"bad SRT cue {block!r}"
        assert int(m.group(1)) == k
        cues.append((_secs(*m.group(2, 3, 4, 5)), _secs(*m.group(6, 7, 8, 9)), m.group(10)))
    return cues


def parse_vtt(text):
    assert text.startswith("WEBVTT\n\n")
    cues = []
    for block in text[len("WEBVTT\n\n"):].split("\n\n"):
        m = VTT_CUE.fullmatch(block if block.endswith("\n") else block + "\n")
        assert m, f"bad VTT cue {block!r}"
        cues.append((_secs(*m.group(1, 2, 3, 4)), _secs(*m.group(5, 6, 7, 8)), m.group(9)))
    return cues


def messy_words(seed, duration):
    """Words as stitching can leave them: overlapping, slightly out of order, running past the end."""
    rng = random.Random(seed)
    t, words = 0.2, []
    while t < duration + 1.0:
        d = rng.uniform(0.1, 0.7)
        jitter = rng.uniform(-0.15, 0.05)
        words.append(Word(f"शब्द{rng.randint(0, 50)}", t + jitter, t + d + rng.uniform(-0.05, 0.3)))
        t += d + (rng.uniform(1.0, 2.5) if rng.random() < 0.1 else rng.uniform(0.0, 0.2))
    return words


def transcription(seed=0, duration=95.0):
    words = clean_words(messy_words(seed, duration), duration)
    segs = make_segments(words)
    return Transcription(" ".join(w.text for w in words), "hi", 0.9, segs, duration, "rec")


def test_clean_words_monotonic_inside():
    for seed in range(5):
        messy = messy_words(seed, 30.0)
        words = clean_words(messy, 30.0)
        assert len(messy) > 20 and [w.text for w in words] == [w.text for w in messy], "every word kept, in order"
        assert any(a.start > b.start or a.end > b.start for a, b in zip(messy, messy[1:])), "there was disorder"
        for a, b in zip(words, words[1:]):
            assert a.start <= a.end <= b.start
        assert all(0.0 <= w.start <= w.end <= 30.0 for w in words)


def test_srt_vtt_parse_monotonic_inside_audio():
    for seed in range(5):
        t = transcription(seed)
        for cues in (parse_srt(render(t, "srt", "rec")), parse_vtt(render(t, "vtt", "rec"))):
            assert len(cues) == len(t.segments) > 5
            for (s0, e0, _), (s1, _, _) in zip(cues, cues[1:]):
                assert s0 <= e0 <= s1
            assert all(0.0 <= s <= e <= t.duration for s, e, _ in cues)
            assert " ".join(c[2] for c in cues) == t.text  # no word lost or repeated
            assert all(e - s <= 6.0 + 1e-3 and len(text) <= 84 for s, e, text in cues)


def test_segments_break_at_pauses():
    words = [Word("a", 0.0, 0.5), Word("b", 0.6, 1.0), Word("c", 3.0, 3.5)]
    segs = make_segments(words, max_gap=0.8)
    assert [s.text for s in segs] == ["a b", "c"]
    assert (segs[0].start, segs[0].end, segs[1].start) == (0.0, 1.0, 3.0)


def test_json_ctm_txt(tmp_path):
    t = transcription(1, 20.0)
    paths = write_outputs(t, "rec", tmp_path, ["txt", "json", "ctm", "srt", "vtt"])
    assert [p.name for p in paths] == ["rec.txt", "rec.json", "rec.ctm", "rec.srt", "rec.vtt"]
    assert (tmp_path / "rec.txt").read_text(encoding="utf-8") == t.text + "\n"
    js = json.loads((tmp_path / "rec.json").read_text(encoding="utf-8"))
    assert js["language"] == "hi" and js["text"] == t.text and js["duration"] == 20.0
    assert [w["text"] for s in js["segments"] for w in s["words"]] == t.text.split()
    ctm = (tmp_path / "rec.ctm").read_text(encoding="utf-8").splitlines()
    assert len(ctm) == len(t.text.split())
    for line, w in zip(ctm, t.words):
        reco, ch, start, dur, word = line.split(" ")
        assert (reco, ch, word) == ("rec", "1", w.text) and abs(float(start) - w.start) < 0.006
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_empty_transcription_is_valid_everywhere():
    t = Transcription("", "hi", None, [], 3.0, "silence")
    assert render(t, "srt", "s") == "" and render(t, "vtt", "s") == "WEBVTT\n\n"
    assert render(t, "ctm", "s") == "" and json.loads(render(t, "json", "s"))["segments"] == []
