"""Micro synthetic corpus: manifests load, supervisions sit on the speech, splits are disjoint."""
import json
from pathlib import Path

import numpy as np
import pytest
from lhotse import RecordingSet, SupervisionSet

from prefixasr.data.harvest import clean_sentences, parse_mo, read_text_dir
from prefixasr.data.longform import mix_at_snr
from prefixasr.data.synthetic import SPLITS, build_corpus, make_config, plan_recordings, split_sentences

FIXTURE = Path(__file__).parent / "fixtures" / "data" / "sentences.tsv"
LANGS = ["hi", "ta"]


def _text_dir(tmp_path):
    d = tmp_path / "text"
    d.mkdir()
    rows = [l.split("\t") for l in FIXTURE.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
    for lang in LANGS:
        (d / f"{lang}.txt").write_text("".join(t + "\n" for l, t in rows if l == lang), encoding="utf-8")
    (d / "en_phrases.txt").write_text("open file\nsettings\n", encoding="utf-8")
    return d


def _cfg(**kw):
    return make_config("mini", languages=LANGS, utts={"train": 3, "dev": 1, "test": 1}, rec_seconds=(4.0, 8.0),
                       min_words=3, seed=7, **kw)


def test_planning_is_deterministic_and_disjoint(tmp_path):
    sents, en = read_text_dir(_text_dir(tmp_path), LANGS)
    cfg = _cfg(code_switch_prob=0.5)
    splits, lm = split_sentences(sents, cfg)
    plans = plan_recordings(splits, en, cfg, tmp_path / "audio")
    again = plan_recordings(*split_sentences(sents, cfg)[:1], en, cfg, tmp_path / "audio")
    assert [(p.rec_id, p.speaker, p.utts, p.seed) for p in plans] == [(p.rec_id, p.speaker, p.utts, p.seed) for p in again]
    for lang in LANGS:
        held = set(splits["dev"][lang]) | set(splits["test"][lang])
        assert not held & set(splits["train"][lang])
        assert len(splits["train"][lang]) == 3
    spk = {s: {p.speaker for p in plans if p.split == s} for s in SPLITS}
    assert not spk["train"] & spk["test"] and not spk["train"] & spk["dev"] and not spk["dev"] & spk["test"]
    with pytest.raises(ValueError, match="usable sentences"):
        split_sentences(sents, make_config("mini", languages=LANGS))


def test_shorter_train_recordings_bring_more_voices_and_leave_test_alone(tmp_path):
    sents, en = read_text_dir(_text_dir(tmp_path), LANGS)
    base, short = _cfg(), _cfg(train_rec_seconds=(0.5, 0.5))  # one sentence per train recording
    plans = {c.train_rec_seconds: plan_recordings(split_sentences(sents, c)[0], en, c, tmp_path) for c in (base, short)}
    one_each = [p for p in plans[(0.5, 0.5)] if p.split == "train"]
    assert len(one_each) == 3 * len(LANGS) and all(len(p.utts) == 1 for p in one_each)
    assert len([p for p in plans[None] if p.split == "train"]) < len(one_each)
    held_out = [[(p.rec_id, p.speaker, p.utts) for p in ps if p.split != "train"] for ps in plans.values()]
    assert held_out[0] == held_out[1], "dev/test recordings must not depend on the train split's lengths"


def test_mix_at_snr_hits_the_target():
    rng = np.random.default_rng(0)
    speech = np.zeros(32000, dtype=np.float32)
    speech[8000:24000] = 0.3 * np.sin(np.arange(16000) * 0.05)
    mask = speech != 0
    noisy = mix_at_snr(speech, mask, 10.0, rng)
    noise = noisy - speech
    snr = 10 * np.log10(np.mean(speech[mask] ** 2) / np.mean(noise ** 2))
    assert abs(snr - 10.0) < 0.1


def test_harvest_helpers():
    # A hand-made two-entry .mo file in the documented binary format.
    import struct
    entries = [(b"Open file", "फ़ाइल खोलें और पढ़ें अभी".encode()), (b"Save %s", "सहेजें %s".encode())]
    n = len(entries)
    header = 28
    otab, ttab = header, header + 8 * n
    data_off = ttab + 8 * n
    blob, orig, trans = b"", [], []
    for o, _ in entries:
        orig.append((len(o), data_off + len(blob))); blob += o + b"\0"
    for _, t in entries:
        trans.append((len(t), data_off + len(blob))); blob += t + b"\0"
    mo = struct.pack("<7I", 0x950412DE, 0, n, otab, ttab, 0, 0)
    mo += b"".join(struct.pack("<2I", *x) for x in orig) + b"".join(struct.pack("<2I", *x) for x in trans) + blob
    pairs = list(parse_mo(mo))
    assert pairs[0] == ("Open file", "फ़ाइल खोलें और पढ़ें अभी")
    assert clean_sentences(pairs[0][1], "hi") == ["फ़ाइल खोलें और पढ़ें अभी"]
    assert clean_sentences(pairs[1][1], "hi") == []  # placeholder
    assert clean_sentences("यह ® चिह्न है ठीक", "hi") == []
    assert clean_sentences("बहुत छोटा", "hi") == []  # under 4 words


@pytest.mark.needs_tool("espeak-ng")
def test_micro_corpus(tmp_path):
    sents, en = read_text_dir(_text_dir(tmp_path), LANGS)
    out = tmp_path / "data"
    stats = build_corpus(sents, en, _cfg(code_switch_prob=0.3), out, num_jobs=2)
    assert stats["skipped"] == 0
    texts, speakers = {}, {}
    for split in SPLITS:
        recs = RecordingSet.from_file(out / "manifests" / f"{split}_recordings.jsonl.gz").to_eager()
        sups = SupervisionSet.from_file(out / "manifests" / f"{split}_supervisions.jsonl.gz").to_eager()
        n_expected = {"train": 3, "dev": 1, "test": 1}[split]
        assert len(sups) == n_expected * len(LANGS)
        texts[split] = {s.text for s in sups}
        speakers[split] = {s.speaker for s in sups}
        for s in sups:
            assert s.language in LANGS and s.text and s.speaker
            rec = recs[s.recording_id]
            assert rec.sampling_rate == 16000 and 0 < s.start and s.end < rec.duration
            audio = rec.load_audio()[0]
            a, b = int(s.start * 16000), int(s.end * 16000)
            rms = lambda x: float(np.sqrt(np.mean(x ** 2)))
            assert rms(audio[a: a + 1600]) > 0.01 and rms(audio[b - 4800: b]) > 0.005, s.id
            # Pauses are ≥ 0.3 s of digital silence (clean corpus): the 0.2 s on each side is silent.
            assert rms(audio[a - 3200: a - 160]) < 1e-3 and rms(audio[b + 160: b + 3200]) < 1e-3, s.id
    assert not texts["train"] & (texts["dev"] | texts["test"]) and not texts["dev"] & texts["test"]
    assert not speakers["train"] & (speakers["dev"] | speakers["test"]) and not speakers["dev"] & speakers["test"]
    lm = set((out / "lang" / "lm_text.txt").read_text(encoding="utf-8").splitlines())
    heldout_native = {t for s in ("dev", "test") for t in texts[s]}
    assert not any(t.startswith(l) or l.startswith(t) for t in heldout_native for l in lm if l)
    assert json.loads((out / "lang" / "lang2id.json").read_text()) == {"hi": 0, "ta": 1}
    # test_cs: test's sentences again, each followed by an English phrase, read by held-out (test) voices
    test_text = {s.language: s.text for s in SupervisionSet.from_file(out / "manifests" / "test_supervisions.jsonl.gz")}
    cs = SupervisionSet.from_file(out / "manifests" / "test_cs_supervisions.jsonl.gz").to_eager()
    assert sorted(s.language for s in cs) == LANGS and stats["splits"]["test_cs"]["hi"]["utterances"] == 1
    for s in cs:
        native = test_text[s.language]
        assert s.text.startswith(native + " ") and s.text[len(native) + 1:] in {"open file", "settings"}, s.text
        assert s.speaker not in speakers["train"] | speakers["dev"]


@pytest.mark.needs_tool("espeak-ng")
def test_a_sentence_that_begins_with_a_dash_is_spoken_not_read_as_an_option():
    from prefixasr.data.tts import Speaker, synthesize

    audio = synthesize("--सहायता दिखाएँ", "hi", Speaker("m1", 175, 50))  # catalogs have "--help"-like strings
    assert audio.size > 16000 * 0.3
