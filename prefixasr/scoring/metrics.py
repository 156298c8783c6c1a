"""WER/CER per utterance, per language and overall, plus hallucination figures.

Hallucination is measured two ways, both per utterance, then reported as a share of utterances:
  - *long*: the hypothesis is much longer than the reference
    (hyp_words >= long_ratio * ref_words and hyp_words - ref_words >= long_min_extra);
  - *loop*: the hypothesis repeats some n-gram (n <= max_ngram) back to back at least `min_repeats`
    times, more often than the reference does (the runaway "the the the ..." of LLM decoders).
Word boundaries are counted apart, from the character alignment: *split* words (a space the hypothesis
writes between two letters of a reference word) and *joined* ones (a reference space it drops between two
letters), per reference word. A split word is a word insertion with nothing hallucinated: the count tells
segmentation from hallucination.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence

from prefixasr.scoring.align import EPS, SPACE, Alignment, ErrorCounts, align, chars, count_errors, words


@dataclass
class HallucinationConfig:
    long_ratio: float = 1.5
    long_min_extra: int = 3
    max_ngram: int = 4
    min_repeats: int = 3


@dataclass
class UttScore:
    utt: str
    lang: str
    ref: str
    hyp: str
    word_ali: Alignment
    word: ErrorCounts
    char: ErrorCounts
    is_long: bool
    loop_repeats: int  # the longest back-to-back repetition of one n-gram in the hypothesis
    split: int  # spaces written between two letters of a reference word
    joined: int  # reference spaces lost between two letters of the hypothesis


@dataclass
class Scores:
    utts: List[UttScore]
    word: ErrorCounts
    char: ErrorCounts
    per_lang_word: Dict[str, ErrorCounts] = field(default_factory=dict)
    per_lang_char: Dict[str, ErrorCounts] = field(default_factory=dict)
    hallucination: Dict[str, float] = field(default_factory=dict)


def max_repeats(tokens: Sequence[str], max_ngram: int = 4) -> int:
    """Largest k such that some n-gram (n <= max_ngram) occurs k times back to back."""
    best = 1 if tokens else 0
    for n in range(1, max_ngram + 1):
        for start in range(len(tokens) - 2 * n + 1):
            k = 1
            while tokens[start + k * n : start + (k + 1) * n] == tokens[start : start + n]:
                k += 1
            best = max(best, k)
    return best


def boundary_errors(char_ali: Alignment) -> tuple[int, int]:
    """(split, joined) of one character alignment: a space written between two letters of the reference's
    words, and a reference space lost between two letters of the hypothesis. A space next to inserted or
    deleted material is not counted: an inserted or deleted whole word is not a boundary error."""
    split = joined = 0
    for (pr, ph), (r, h), (nr, nh) in zip(char_ali, char_ali[1:], char_ali[2:]):
        split += h == SPACE and r != SPACE and pr not in (EPS, SPACE) and nr not in (EPS, SPACE)
        joined += r == SPACE and h != SPACE and ph not in (EPS, SPACE) and nh not in (EPS, SPACE)
    return split, joined


def score_utterance(utt: str, lang: str, ref: str, hyp: str, aligner: str,
                    hcfg: HallucinationConfig) -> UttScore:
    rw, hw = words(ref), words(hyp)
    ali = align(rw, hw, aligner)
    char_ali = align(chars(ref), chars(hyp), aligner)
    reps = max_repeats(hw, hcfg.max_ngram)
    split, joined = boundary_errors(char_ali)
    return UttScore(
        utt=utt,
        lang=lang,
        ref=ref,
        hyp=hyp,
        word_ali=ali,
        word=count_errors(ali),
        char=count_errors(char_ali),
        is_long=len(hw) >= hcfg.long_ratio * len(rw) and len(hw) - len(rw) >= hcfg.long_min_extra,
        loop_repeats=reps if reps >= hcfg.min_repeats and reps > max_repeats(rw, hcfg.max_ngram) else 0,
        split=split,
        joined=joined,
    )


def score_all(refs: Mapping[str, str], hyps: Mapping[str, str], utt2lang: Mapping[str, str],
              aligner: str = "sclite", hcfg: HallucinationConfig | None = None) -> Scores:
    """Score every utterance of `refs` (a missing hypothesis counts as empty), in sorted utt order."""
    hcfg = hcfg or HallucinationConfig()
    utts = [score_utterance(u, utt2lang.get(u, "unk"), refs[u], hyps.get(u, ""), aligner, hcfg)
            for u in sorted(refs)]
    word = sum((s.word for s in utts), ErrorCounts())
    per_w: Dict[str, ErrorCounts] = defaultdict(ErrorCounts)
    per_c: Dict[str, ErrorCounts] = defaultdict(ErrorCounts)
    for s in utts:
        per_w[s.lang] += s.word
        per_c[s.lang] += s.char
    n = max(len(utts), 1)
    words_total = word.ref_len or 1
    return Scores(
        utts=utts,
        word=word,
        char=sum((s.char for s in utts), ErrorCounts()),
        per_lang_word=dict(sorted(per_w.items())),
        per_lang_char=dict(sorted(per_c.items())),
        hallucination={
            "long_hyp_pct": round(100.0 * sum(s.is_long for s in utts) / n, 4),
            "loop_pct": round(100.0 * sum(s.loop_repeats > 0 for s in utts) / n, 4),
            "ins_rate_pct": round(word.ins_rate, 4),
            "split_words_pct": round(100.0 * sum(s.split for s in utts) / words_total, 4),
            "joined_words_pct": round(100.0 * sum(s.joined for s in utts) / words_total, 4),
        },
    )


def scores_json(scores: Scores, extra: dict | None = None) -> dict:
    """The machine-readable summary written as scores.json (read by show_results)."""
    out = {
        "wer": scores.word.as_dict(),
        "cer": scores.char.as_dict(),
        "per_lang": {
            lang: {"wer": scores.per_lang_word[lang].as_dict(), "cer": scores.per_lang_char[lang].as_dict()}
            for lang in scores.per_lang_word
        },
        "hallucination": scores.hallucination,
        "hallucinated_utts": [s.utt for s in scores.utts if s.is_long or s.loop_repeats],
        # per utterance [lang, ref words, word errors, ref chars, char errors]: paired bootstrap intervals
        # between systems (prefixasr/scoring/effects.py)
        "per_utt": {s.utt: [s.lang, s.word.ref_len, s.word.errors, s.char.ref_len, s.char.errors]
                    for s in scores.utts},
    }
    out.update(extra or {})
    return out
