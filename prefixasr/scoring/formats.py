"""Reading Kaldi-style `utt value` files and writing the score files our users know.

Formats written (one function each):
  - `text`/`ref`: `utt words...` (Kaldi);
  - `recogs-*.txt`: icefall's `utt:\tref=[...]` / `utt:\thyp=[...]` pairs;
  - `errs-*.txt`: icefall's error report (%WER line, PER-UTT DETAILS, SUBSTITUTIONS, DELETIONS,
    INSERTIONS, PER-WORD STATS);
  - `wer`/`cer`: Kaldi compute-wer's `%WER x.xx [ E / N, I ins, D del, S sub ]` and `%SER` lines;
  - `ref.trn`/`hyp.trn`: sclite trn, `w1 w2 ... (lang-utt)` so sclite's speaker table is per language.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from prefixasr.common import PathLike, atomic_write
from prefixasr.scoring.align import EPS, ErrorCounts
from prefixasr.scoring.metrics import UttScore


def write_recogs(path: PathLike, utts: Iterable[UttScore]) -> None:
    with atomic_write(path) as f:
        for s in utts:
            f.write(f"{s.utt}:\tref={s.ref.split()}\n")
            f.write(f"{s.utt}:\thyp={s.hyp.split()}\n")


def wer_line(c: ErrorCounts, name: str = "WER") -> str:
    return f"%{name} {c.rate:.2f} [ {c.errors} / {c.ref_len}, {c.ins} ins, {c.dels} del, {c.sub} sub ]"


def write_wer(path: PathLike, c: ErrorCounts, name: str = "WER") -> None:
    """Kaldi compute-wer's summary (what `grep WER exp/*/decode*/wer` users expect)."""
    ser = 100.0 * c.num_err_utts / c.num_utts if c.num_utts else 0.0
    with atomic_write(path) as f:
        f.write(wer_line(c, name) + "\n")
        f.write(f"%SER {ser:.2f} [ {c.num_err_utts} / {c.num_utts} ]\n")


def _utt_detail(s: UttScore) -> str:
    return " ".join(r if r == h else f"({r}->{h})" for r, h in s.word_ali)


def write_errs(path: PathLike, utts: List[UttScore], total: ErrorCounts) -> None:
    """icefall-style error report built from our alignments."""
    subs: Counter = Counter()
    dels: Counter = Counter()
    ins: Counter = Counter()
    # word -> [corr, errors, count in ref, count in hyp]
    stats: Dict[str, List[int]] = {}

    def st(w: str) -> List[int]:
        return stats.setdefault(w, [0, 0, 0, 0])

    for s in utts:
        for r, h in s.word_ali:
            if r == EPS:
                ins[h] += 1
                st(h)[1] += 1
                st(h)[3] += 1
            elif h == EPS:
                dels[r] += 1
                st(r)[1] += 1
                st(r)[2] += 1
            elif r != h:
                subs[(r, h)] += 1
                st(r)[1] += 1
                st(r)[2] += 1
                st(h)[1] += 1
                st(h)[3] += 1
            else:
                st(r)[0] += 1
                st(r)[2] += 1
                st(r)[3] += 1
    with atomic_write(path) as f:
        f.write(f"%WER = {total.rate:.2f}\n")
        f.write(f"Errors: {total.ins} insertions, {total.dels} deletions, {total.sub} substitutions, "
                f"over {total.ref_len} reference words ({total.corr} correct)\n")
        f.write("Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, "
                "DELETIONS:, INSERTIONS:, PER-WORD STATS:\n\n")
        f.write("PER-UTT DETAILS: corr or (ref->hyp)\n")
        for s in utts:
            f.write(f"{s.utt}:\t{_utt_detail(s)}\n")
        f.write("\nSUBSTITUTIONS: count ref -> hyp\n")
        for (r, h), n in sorted(subs.items(), key=lambda x: (-x[1], x[0])):
            f.write(f"{n}   {r} -> {h}\n")
        f.write("\nDELETIONS: count ref\n")
        for w, n in sorted(dels.items(), key=lambda x: (-x[1], x[0])):
            f.write(f"{n}   {w}\n")
        f.write("\nINSERTIONS: count hyp\n")
        for w, n in sorted(ins.items(), key=lambda x: (-x[1], x[0])):
            f.write(f"{n}   {w}\n")
        f.write("\nPER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp\n")
        for w, (c, e, nr, nh) in sorted(stats.items(), key=lambda x: (-x[1][1], x[0])):
            f.write(f"{w}   {c} {e} {nr} {nh}\n")


_TRN_ID_SAFE = re.compile(r"[^0-9A-Za-z]")


def trn_id(utt: str, lang: str) -> str:
    """sclite splits the id at the first '-' or '_' into speaker and utterance: use the language."""
    return f"{_TRN_ID_SAFE.sub('', lang) or 'unk'}-{utt}"


def write_trn(path: PathLike, items: Iterable[Tuple[str, str, List[str]]]) -> None:
    """items: (utt, lang, tokens). An empty token list gives the line `(lang-utt)` (sclite accepts it)."""
    with atomic_write(path) as f:
        for utt, lang, toks in items:
            f.write(" ".join(toks + [f"({trn_id(utt, lang)})"]) + "\n")


def decode_set_and_suffix(decode_dir: Path) -> Tuple[str, str]:
    """`decode_<set>_<method>[_suffix]` -> (set, rest); any other name -> (name, "")."""
    name = decode_dir.name
    if name.startswith("decode_"):
        body = name[len("decode_"):]
        for method in ("llm_greedy", "llm_beam", "rnnt_greedy", "rnnt_beam"):
            key = f"_{method}"
            if key in body:
                s, _, rest = body.partition(key)
                return s, method + rest
        return body, ""
    return name, ""
