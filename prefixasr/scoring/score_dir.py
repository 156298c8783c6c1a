"""Score one decode directory: read `text`, `ref`, `utt2lang`; write every score file.

A decode dir holds `text` (utt hyp), `ref` (utt ref), `utt2lang` and optionally `decode_info.json`
(written by prefixasr.bin.decode: set name, method, settings suffix). Scoring writes
`recogs-<set>-<suffix>.txt`, `errs-<set>-<suffix>.txt`, `wer-summary-<set>-<suffix>.txt`, `wer`, `cer`,
`ref.trn`, `hyp.trn`, `ref_char.trn`, `hyp_char.trn`, `scores.json`, and `result.txt`/`result_char.txt`
when sclite exists.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from prefixasr.common import PathLike, atomic_write, read_kaldi_map
from prefixasr.scoring import formats, sclite
from prefixasr.scoring.align import chars, words
from prefixasr.scoring.metrics import HallucinationConfig, Scores, score_all, scores_json

log = logging.getLogger(__name__)


@dataclass
class DirScore:
    scores: Scores
    summary: dict
    num_missing_hyp: int
    num_extra_hyp: int


def _normalise_all(texts: Dict[str, str], utt2lang: Dict[str, str]) -> Dict[str, str]:
    from prefixasr.data.text import normalize_text

    return {u: normalize_text(t, utt2lang.get(u, "unk")) for u, t in texts.items()}


def read_decode_info(decode_dir: Path) -> dict:
    p = decode_dir / "decode_info.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def score_dir(decode_dir: PathLike, aligner: str = "sclite", normalize: bool = True,
              hcfg: Optional[HallucinationConfig] = None, use_sclite: bool = True) -> DirScore:
    d = Path(decode_dir)
    for name in ("text", "ref"):
        if not (d / name).is_file():
            raise FileNotFoundError(f"{d / name}: missing (is this a decode dir?)")
    hyps = read_kaldi_map(d / "text")
    refs = read_kaldi_map(d / "ref")
    utt2lang = read_kaldi_map(d / "utt2lang", False) if (d / "utt2lang").exists() else {}
    missing = sorted(set(refs) - set(hyps))
    extra = sorted(set(hyps) - set(refs))
    if missing:
        log.warning("%s: %d utterances have no hypothesis (scored as empty), e.g. %s",
                    d, len(missing), missing[0])
    if extra:
        log.warning("%s: %d hypotheses have no reference (skipped), e.g. %s", d, len(extra), extra[0])
    if normalize:
        refs, hyps = _normalise_all(refs, utt2lang), _normalise_all(hyps, utt2lang)
    scores = score_all(refs, hyps, utt2lang, aligner, hcfg)

    info = read_decode_info(d)
    set_name, suffix = formats.decode_set_and_suffix(d)
    set_name, suffix = info.get("set", set_name), info.get("suffix", suffix)
    tag = f"{set_name}-{suffix}" if suffix else set_name
    formats.write_recogs(d / f"recogs-{tag}.txt", scores.utts)
    formats.write_errs(d / f"errs-{tag}.txt", scores.utts, scores.word)
    with atomic_write(d / f"wer-summary-{tag}.txt") as f:  # icefall's one-line table per decode
        f.write(f"settings\tWER\n{suffix or set_name}\t{scores.word.rate:.2f}\n")
    formats.write_wer(d / "wer", scores.word, "WER")
    formats.write_wer(d / "cer", scores.char, "CER")
    formats.write_trn(d / "ref.trn", ((s.utt, s.lang, words(s.ref)) for s in scores.utts))
    formats.write_trn(d / "hyp.trn", ((s.utt, s.lang, words(s.hyp)) for s in scores.utts))
    formats.write_trn(d / "ref_char.trn", ((s.utt, s.lang, chars(s.ref)) for s in scores.utts))
    formats.write_trn(d / "hyp_char.trn", ((s.utt, s.lang, chars(s.hyp)) for s in scores.utts))
    if use_sclite and sclite.sclite_command() is not None and scores.utts:
        sclite.write_result(d / "ref.trn", d / "hyp.trn", d / "result.txt")
        sclite.write_result(d / "ref_char.trn", d / "hyp_char.trn", d / "result_char.txt")
    elif use_sclite:
        log.info("sclite not installed: result.txt not written (apt-get install sctk)")

    summary = scores_json(scores, {
        "decode_dir": str(d),
        "set": set_name,
        "suffix": suffix,
        "aligner": aligner,
        "normalized": normalize,
        "num_missing_hyp": len(missing),
        "num_extra_hyp": len(extra),
        "decode_info": info,
    })
    with atomic_write(d / "scores.json") as f:
        json.dump(summary, f, ensure_ascii=False, indent=1)
    return DirScore(scores, summary, len(missing), len(extra))
