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


@pytest.mark.needs_tool("sctk")
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


def tie_pairs(seed: int, n: int):
    """Pairs where several alignments cost the same: shuffles, loops, drops, empty sides."""
    rng = random.Random(seed)
    vocab = VOCAB[: rng.randint(2, len(VOCAB))]
    pairs = {}
    for i in range(n):
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 12))]
        kind = i % 5
        if kind == 0:  # the same words in another order
            hyp = ref[:]
            rng.shuffle(hyp)
        elif kind == 1:  # a loop: the tail repeated
            hyp = ref + ref[-rng.randint(1, 3):] * rng.randint(1, 4)
        elif kind == 2:  # drops, then shuffled
            hyp = [w for w in ref if rng.random() > 0.3]
            rng.shuffle(hyp)
        elif kind == 3:
            hyp = [rng.choice(vocab) for _ in range(rng.randint(0, 12))]
        else:  # one side empty
            ref, hyp = (ref, []) if rng.random() < 0.5 else ([], ref)
        pairs[f"s{seed}_{i:05d}"] = (ref, hyp)
    return pairs


@pytest.mark.needs_tool("sctk")
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_parity_with_sclite_on_ties(tmp_path, seed):
    pairs = tie_pairs(seed, 2000)
    write_trn(tmp_path / "ref.trn", [(u, "x", r) for u, (r, _) in pairs.items()])
    write_trn(tmp_path / "hyp.trn", [(u, "x", h) for u, (_, h) in pairs.items()])
    theirs = sclite.parse_pra(sclite.run_sclite(tmp_path / "ref.trn", tmp_path / "hyp.trn", "pra"))
    assert len(theirs) == len(pairs)
    differ = []
    for u, (r, h) in pairs.items():
        c = count_errors(align(r, h, "sclite"))
        if (c.corr, c.sub, c.dels, c.ins) != theirs[trn_id(u, "x")]:
            differ.append((" ".join(r), " ".join(h), (c.corr, c.sub, c.dels, c.ins), theirs[trn_id(u, "x")]))
    assert not differ, f"{len(differ)} of {len(pairs)} differ from sclite, e.g. {differ[:3]}"


def test_sclite_tie_order():
    # ref "a b e c b e e" / hyp "e c e a b e": 3 sub + 1 del and 3 del + 2 ins both cost 15;
    # sclite takes the insertion over an equally cheap deletion on the way back
    c = count_errors(align("a b e c b e e".split(), "e c e a b e".split()))
    assert (c.corr, c.sub, c.dels, c.ins) == (4, 0, 3, 2)


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


def test_split_and_joined_words_are_boundaries_not_whole_words():
    refs = {"u1": "abcd ef", "u2": "ab cd", "u3": "ab cd", "u4": "ab cd ef"}
    hyps = {"u1": "ab cd ef",  # a space inside a word: one word insertion, one split
            "u2": "abcd",  # a space dropped: joined
            "u3": "ab cd xy",  # a whole inserted word: neither
            "u4": "ab ef"}  # a whole deleted word: neither
    s = score_all(refs, hyps, dict.fromkeys(refs, "hi"))
    assert [(x.split, x.joined) for x in s.utts] == [(1, 0), (0, 1), (0, 0), (0, 0)]
    assert s.word.ins == 2  # u1's split and u3's word: the insertion rate does not tell them apart
    assert s.hallucination["split_words_pct"] == pytest.approx(100 / 9, rel=1e-3)
    assert s.hallucination["joined_words_pct"] == pytest.approx(100 / 9, rel=1e-3)
