"""Alignment and error counts: parity with sclite, kaldialign, hallucination figures."""
import random

import kaldialign
import pytest

from prefixasr.scoring import sclite
from prefixasr.scoring.align import EPS, ErrorCounts, align, chars, count_errors
from prefixasr.scoring.formats import trn_id, write_trn
from prefixasr.scoring.metrics import max_repeats, score_all

VOCAB = ["a", "b", "c", "हिंदी", "भाषा", "है", "বাংলা", "தமிழ்", "ਪੰਜਾਬੀ", "اردو"]


def random_sets(seed: int, n: int):
    rng = random.Random(seed)
    refs, hyps, langs = {}, {}, {}
    for i in range(n):
        utt = f"utt{i:04d}"
        refs[utt] = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(0, 9)))
        hyps[utt] = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(0, 9)))
        langs[utt] = rng.choice(["hi", "bn", "ta"])
    for i in range(20):  # long utterances, hypothesis = edited reference (the realistic case)
        utt = f"long{i:02d}"
        ref = [rng.choice(VOCAB) for _ in range(rng.randint(20, 40))]
        hyp = [w for w in ref if rng.random() > 0.1]
        hyp = [rng.choice(VOCAB) if rng.random() < 0.15 else w for w in hyp]
        for _ in range(rng.randint(0, 4)):
            hyp.insert(rng.randint(0, len(hyp)), rng.choice(VOCAB))
        refs[utt], hyps[utt], langs[utt] = " ".join(ref), " ".join(hyp), "ta"
    refs["utt_emptyref"], hyps["utt_emptyref"], langs["utt_emptyref"] = "", "a b", "hi"
    refs["utt_emptyhyp"], hyps["utt_emptyhyp"], langs["utt_emptyhyp"] = "a हिंदी", "", "hi"
    refs["utt_bothempty"], hyps["utt_bothempty"], langs["utt_bothempty"] = "", "", "bn"
    return refs, hyps, langs


def test_counts_from_alignment():
    ali = align("a b c d".split(), "a x c".split())
    assert ali == [("a", "a"), ("b", "x"), ("c", "c"), ("d", EPS)]
    c = count_errors(ali)
    assert (c.corr, c.sub, c.dels, c.ins, c.ref_len, c.hyp_len) == (2, 1, 1, 0, 4, 3)
    assert c.rate == pytest.approx(50.0)
    empty_ref = count_errors(align([], ["x", "y"]))
    assert (empty_ref.ins, empty_ref.ref_len, empty_ref.errors) == (2, 0, 2)
    assert (ErrorCounts() + empty_ref).ins == 2


def test_kaldi_aligner_matches_kaldialign():
    refs, hyps, _ = random_sets(3, 200)
    for u in refs:
        r, h = refs[u].split(), hyps[u].split()
        ours = count_errors(align(r, h, "kaldi"))
        ref = kaldialign.edit_distance(r, h)
        assert (ours.sub, ours.dels, ours.ins) == (ref["sub"], ref["del"], ref["ins"])


def test_chars_mark_spaces():
    assert chars(" ab  c ") == ["a", "b", "<space>", "c"]


@pytest.mark.skipif(sclite.sclite_command() is None, reason="sclite absent (Debian package 'sctk')")
@pytest.mark.parametrize("level", ["word", "char"])
def test_parity_with_sclite(tmp_path, level):
    refs, hyps, langs = random_sets(7, 300)
    tok = str.split if level == "word" else chars
    write_trn(tmp_path / "ref.trn", [(u, langs[u], tok(refs[u])) for u in sorted(refs)])
    write_trn(tmp_path / "hyp.trn", [(u, langs[u], tok(hyps[u])) for u in sorted(refs)])
    theirs = sclite.parse_pra(sclite.run_sclite(tmp_path / "ref.trn", tmp_path / "hyp.trn", "pra"))
    assert len(theirs) == len(refs) == 323
    total = ErrorCounts()
    for u in refs:
        c = count_errors(align(tok(refs[u]), tok(hyps[u]), "sclite"))
        total += c
        assert (c.corr, c.sub, c.dels, c.ins) == theirs[trn_id(u, langs[u])], u
    sums = [sum(v[k] for v in theirs.values()) for k in range(4)]
    assert sums == [total.corr, total.sub, total.dels, total.ins]
    # score_all (what the score tool reports) agrees with the per-utterance sum
    s = score_all(refs, hyps, langs) if level == "word" else None
    if s is not None:
        assert (s.word.sub, s.word.dels, s.word.ins) == (total.sub, total.dels, total.ins)


def test_max_repeats_and_hallucination():
    assert max_repeats("a b a b a b c".split()) == 3
    assert max_repeats("x y z".split()) == 1
    assert max_repeats([]) == 0
    refs = {"u1": "a b c", "u2": "a b c", "u3": "no no no"}
    hyps = {"u1": "a b c", "u2": "a b c b c b c b c", "u3": "no no no"}
    s = score_all(refs, hyps, {"u1": "hi", "u2": "hi", "u3": "bn"})
    flagged = {x.utt for x in s.utts if x.loop_repeats}
    assert flagged == {"u2"}  # u3 repeats exactly as its reference does
    assert {x.utt for x in s.utts if x.is_long} == {"u2"}
    assert s.hallucination["loop_pct"] == pytest.approx(100 / 3, rel=1e-3)
    assert s.per_lang_word["bn"].errors == 0 and s.per_lang_word["hi"].ins == 6
