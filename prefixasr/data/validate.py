"""Manifest validation: every bad item gets a one-line reason naming it; nothing is dropped silently.

Checks: missing or unreadable audio, sample-rate mismatch, supervisions on unknown recordings,
zero-length or out-of-range segments, empty or unnormalisable text (nothing left after
normalisation), unknown language.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional

import soundfile as sf
from lhotse import Recording, RecordingSet, SupervisionSet

from prefixasr.data.text import LANG_RULES, normalize_text

TOLERANCE = 0.025  # seconds a segment may overrun its recording (rounding in manifests)


@dataclass
class Report:
    recordings: RecordingSet
    supervisions: SupervisionSet
    problems: List[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)

    def add(self, kind: str, message: str) -> None:
        self.kinds[kind] += 1
        self.problems.append(f"{kind}: {message}")


def _audio_problem(rec: Recording, sample_rate: Optional[int]) -> Optional[tuple]:
    for src in rec.sources:
        if src.type == "file":
            path = Path(src.source)
            if not path.is_file():
                return "missing-audio", f"recording {rec.id}: file {path} does not exist"
            try:
                info = sf.info(str(path))
            except Exception as e:  # soundfile cannot read it: compressed formats are tried by lhotse
                try:
                    rec.load_audio(offset=0.0, duration=min(0.1, rec.duration))
                    continue
                except Exception:
                    return "unreadable-audio", f"recording {rec.id}: {path} cannot be read ({type(e).__name__})"
            if info.samplerate != rec.sampling_rate:
                return "sample-rate", (f"recording {rec.id}: manifest says {rec.sampling_rate} Hz, "
                                       f"{path} is {info.samplerate} Hz")
    if sample_rate is not None and rec.sampling_rate != sample_rate:
        return "sample-rate", f"recording {rec.id}: {rec.sampling_rate} Hz, expected {sample_rate} Hz"
    return None


def validate(
    recordings: RecordingSet, supervisions: SupervisionSet, languages: Optional[Iterable[str]] = None,
    sample_rate: Optional[int] = 16000, check_audio: bool = True,
) -> Report:
    """Split the manifests into the usable part and a list of problems (one line each).

    Without `languages`, a language is known when prefixasr.data.text has rules for it.
    """
    langs = set(languages) if languages is not None else set(LANG_RULES)
    report = Report(RecordingSet.from_recordings([]), SupervisionSet.from_segments([]))
    good = {}
    for rec in recordings:
        problem = _audio_problem(rec, sample_rate) if check_audio else None
        if problem:
            report.add(*problem)
        else:
            good[rec.id] = rec
    known = {r.id for r in recordings}
    sups = []
    for s in supervisions:
        where = f"supervision {s.id} (recording {s.recording_id})"
        if s.recording_id not in known:
            report.add("unknown-recording", f"{where}: no such recording in the recordings manifest")
            continue
        if s.recording_id not in good:
            report.add("bad-recording", f"{where}: its recording failed validation")
            continue
        rec = good[s.recording_id]
        if s.duration <= 0:
            report.add("zero-length", f"{where}: duration {s.duration}")
        elif s.start < 0 or s.end > rec.duration + TOLERANCE:
            report.add("out-of-range", f"{where}: {s.start:.3f}-{s.end:.3f}s outside 0-{rec.duration:.3f}s")
        elif not (s.text or "").strip():
            report.add("empty-text", f"{where}: empty text")
        elif not normalize_text(s.text, s.language or ""):
            report.add("unnormalisable-text", f"{where}: nothing left after normalisation of {s.text!r}")
        elif s.language not in langs:
            report.add("unknown-language", f"{where}: language {s.language!r} not in {' '.join(sorted(langs))}")
        else:
            sups.append(s)
    used = {s.recording_id for s in sups}
    report.recordings = RecordingSet.from_recordings(r for r in good.values() if r.id in used)
    report.supervisions = SupervisionSet.from_segments(sups)
    return report
