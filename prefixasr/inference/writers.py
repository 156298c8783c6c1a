"""Transcription -> txt / json / srt / vtt / ctm text. Files are written atomically by `write_outputs`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from prefixasr.common import PathLike, atomic_write
from prefixasr.decode.longform import ctm_lines
from prefixasr.inference.result import Transcription


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_txt(t: Transcription) -> str:
    return t.text + "\n"


def to_json(t: Transcription) -> str:
    return json.dumps(t.to_dict(), ensure_ascii=False, indent=2) + "\n"


def to_srt(t: Transcription) -> str:
    cues = [f"{k}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n"
            for k, s in enumerate(t.segments, start=1)]
    return "\n".join(cues)


def to_vtt(t: Transcription) -> str:
    cues = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n" for s in t.segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_ctm(t: Transcription, reco: str) -> str:
    lines = ctm_lines(reco, t.words)
    return "".join(line + "\n" for line in lines)


FORMATS: Dict[str, Callable[..., str]] = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt, "ctm": to_ctm}


def render(t: Transcription, fmt: str, reco: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    return to_ctm(t, reco) if fmt == "ctm" else FORMATS[fmt](t)


def write_outputs(t: Transcription, stem: str, out_dir: PathLike, formats: Sequence[str]) -> List[Path]:
    """Write `<out_dir>/<stem>.<fmt>` for each format; the CTM recording id is the stem."""
    paths = []
    for fmt in formats:
        path = Path(out_dir) / f"{stem}.{fmt}"
        with atomic_write(path) as f:
            f.write(render(t, fmt, stem))
        paths.append(path)
    return paths
