"""Real-corpus importers → lhotse manifests: Kaldi data dirs, long audio with WebVTT/SRT captions,
and FLEURS / Common Voice (local copies, through lhotse's recipes).

Malformed input files raise `ImportError_` naming the file and line; unreadable audio and empty
captions are skipped, each with a reason in the returned `skipped` list (never dropped silently).
"""
from __future__ import annotations

import io
import logging
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import soundfile as sf
from lhotse import AudioSource, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from prefixasr.common import PathLike
from prefixasr.data.manifests import save_manifests
from prefixasr.data.text import normalize_text

AUDIO_EXTS = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm")


class ImportError_(ValueError):
    """Bad input that stops an import; the message names the file and line."""


@dataclass
class Imported:
    recordings: RecordingSet
    supervisions: SupervisionSet
    skipped: List[str] = field(default_factory=list)


def _first_line(e: Exception) -> str:
    # lhotse's audio errors span many lines (one per backend); reports stay one line per item.
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"


def _read_table(path: Path, min_fields: int, required: bool = True) -> Dict[str, List[str]]:
    """Kaldi `key value...` file → {key: fields}; a malformed line is an error naming file:line."""
    if not path.is_file():
        if required:
            raise ImportError_(f"{path}: file not found")
        return {}
    table: Dict[str, List[str]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split(maxsplit=1 if min_fields <= 2 else -1)
            if not line.strip():
                continue
            if len(parts) < min_fields:
                raise ImportError_(f"{path}:{n}: expected at least {min_fields} fields, got {line.strip()!r}")
            if parts[0] in table:
                raise ImportError_(f"{path}:{n}: duplicate key {parts[0]!r}")
            table[parts[0]] = parts[1:]
    return table


def _kaldi_recording(rec_id: str, spec: str, reco2dur: Dict[str, List[str]]) -> Recording:
    if spec.endswith("|"):  # a Kaldi pipe: audio comes from a command's stdout
        cmd = spec[:-1].strip()
        if rec_id in reco2dur:
            dur = float(reco2dur[rec_id][0])
            info_sr = None
        else:
            data = subprocess.run(cmd, shell=True, capture_output=True, check=True).stdout
            audio, info_sr = sf.read(io.BytesIO(data))
            dur = len(audio) / info_sr
        sr = info_sr or 16000
        return Recording(rec_id, [AudioSource("command", [0], cmd)], sr, round(dur * sr), dur)
    return Recording.from_file(spec, recording_id=rec_id)


def import_kaldi(data_dir: PathLike, language: Optional[str] = None) -> Imported:
    """A Kaldi data dir (`wav.scp`, `text`, `utt2spk`, optional `segments`, `utt2lang`, `reco2dur`)."""
    d = Path(data_dir)
    wav = _read_table(d / "wav.scp", 2)
    text = _read_table(d / "text", 1)
    utt2spk = _read_table(d / "utt2spk", 2)
    segments = _read_table(d / "segments", 4, required=False)
    utt2lang = _read_table(d / "utt2lang", 2, required=False)
    reco2dur = _read_table(d / "reco2dur", 2, required=False)
    if not utt2lang and language is None:
        raise ImportError_(f"{d / 'utt2lang'}: file not found and no fixed language given (--language)")
    skipped: List[str] = []
    recordings: Dict[str, Recording] = {}
    for rec_id, (spec,) in wav.items():
        try:
            recordings[rec_id] = _kaldi_recording(rec_id, spec.strip(), reco2dur)
        except Exception as e:  # any unreadable audio is skipped with its reason, counted
            skipped.append(f"recording {rec_id}: unreadable audio {spec.strip()!r} ({_first_line(e)})")
    sups = []
    for n, (utt, fields) in enumerate(text.items(), 1):
        words = fields[0] if fields else ""
        if utt not in utt2spk:
            raise ImportError_(f"{d / 'utt2spk'}: no speaker for utterance {utt!r} (listed in {d / 'text'})")
        lang = utt2lang[utt][0] if utt in utt2lang else language
        if lang is None:
            raise ImportError_(f"{d / 'utt2lang'}: no language for utterance {utt!r}")
        if segments:
            if utt not in segments:
                raise ImportError_(f"{d / 'segments'}: no segment for utterance {utt!r}")
            rec_id, start, end = segments[utt][0], float(segments[utt][1]), float(segments[utt][2])
        else:
            rec_id, start, end = utt, 0.0, None
        if rec_id not in recordings:
            if rec_id not in wav:
                raise ImportError_(f"{d / 'wav.scp'}: no recording {rec_id!r} for utterance {utt!r}")
            skipped.append(f"utterance {utt}: its recording {rec_id} was skipped")
            continue
        rec = recordings[rec_id]
        dur = (rec.duration - start) if end is None or end < 0 else end - start  # Kaldi: end -1 = to the end
        sups.append(SupervisionSegment(utt, rec_id, start, round(dur, 4), channel=0, text=words,
                                       language=lang, speaker=utt2spk[utt][0]))
    return Imported(RecordingSet.from_recordings(recordings.values()), SupervisionSet.from_segments(sups), skipped)


_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})")
_CUE_TIMES = re.compile(rf"^\s*({_TIME.pattern})\s*-->\s*({_TIME.pattern})")
_TAGS = re.compile(r"<[^>]*>|\{[^}]*\}")


def _seconds(stamp: str) -> float:
    h, m, s, ms = _TIME.fullmatch(stamp.strip()).groups()
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_captions(path: PathLike) -> List[Tuple[float, float, str, int]]:
    """(start, end, text, line) cues of a WebVTT or SRT file; tags and cue settings removed."""
    path = Path(path)
    cues: List[Tuple[float, float, str, int]] = []
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    i = 0
    while i < len(lines):
        m = _CUE_TIMES.match(lines[i])
        if m is None:
            if "-->" in lines[i]:
                raise ImportError_(f"{path}:{i + 1}: bad cue timing {lines[i].strip()!r}")
            i += 1
            continue
        start, end = _seconds(m.group(1)), _seconds(m.group(6))
        n, body = i + 1, []
        i += 1
        while i < len(lines) and lines[i].strip():
            body.append(_TAGS.sub("", lines[i]).strip())
            i += 1
        cues.append((start, end, " ".join(b for b in body if b), n))
    return cues


def import_captions(audio_dir: PathLike, language: Optional[str] = None) -> Imported:
    """Long audio files with a caption file beside them: `X.wav` + `X.vtt`/`X.srt` or `X.<lang>.vtt`.

    The language comes from `X.<lang>.vtt` names, else the fixed `language`. Each cue becomes one
    supervision (speaker = recording id); empty or out-of-range cues are skipped with a reason.
    """
    audio_dir = Path(audio_dir)
    recs, sups, skipped = [], [], []
    audio_files = sorted(p for p in audio_dir.rglob("*") if p.suffix.lower() in AUDIO_EXTS)
    for audio in audio_files:
        caps = sorted(p for p in audio.parent.glob(f"{audio.stem}.*") if p.suffix.lower() in (".vtt", ".srt"))
        if not caps:
            skipped.append(f"{audio}: no .vtt or .srt caption file beside it")
            continue
        cap = caps[0]
        lang = cap.name[len(audio.stem) + 1: -len(cap.suffix)] or language
        if not lang:
            raise ImportError_(f"{cap}: no language in the name (X.<lang>{cap.suffix}) and no --language")
        try:
            rec = Recording.from_file(audio, recording_id=audio.stem)
        except Exception as e:
            skipped.append(f"{audio}: unreadable audio ({_first_line(e)})")
            continue
        recs.append(rec)
        for k, (start, end, text, line) in enumerate(parse_captions(cap)):
            where = f"{cap}:{line}"
            if not text:
                skipped.append(f"{where}: empty caption")
            elif end <= start or start >= rec.duration:
                skipped.append(f"{where}: cue {start:.3f}-{end:.3f}s outside the {rec.duration:.3f}s recording")
            else:
                sups.append(SupervisionSegment(f"{audio.stem}-{k:04d}", rec.id, start,
                                               round(min(end, rec.duration) - start, 4), channel=0, text=text,
                                               language=lang, speaker=rec.id))
    if not audio_files:
        raise ImportError_(f"{audio_dir}: no audio files ({', '.join(AUDIO_EXTS)})")
    return Imported(RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups), skipped)


def relabel(imported: Imported, language_map: Dict[str, str], normalize: bool = True) -> Imported:
    """Map corpus language codes to ours (e.g. FLEURS `hi_in` → `hi`) and normalise the text."""
    sups = []
    for s in imported.supervisions:
        lang = language_map.get(s.language, s.language)
        text = normalize_text(s.text or "", lang) if normalize else s.text
        sups.append(SupervisionSegment(s.id, s.recording_id, s.start, s.duration, channel=s.channel, text=text,
                                       language=lang, speaker=s.speaker, gender=s.gender))
    return Imported(imported.recordings, SupervisionSet.from_segments(sups), imported.skipped)


def combine(parts: List[Imported]) -> Imported:
    recs = [r for p in parts for r in p.recordings]
    sups = [s for p in parts for s in p.supervisions]
    ids = [r.id for r in recs]
    if len(set(ids)) != len(ids):
        logging.warning("recording ids collide across corpora/languages; later ones replace earlier ones")
    return Imported(RecordingSet.from_recordings({r.id: r for r in recs}.values()), SupervisionSet.from_segments(sups),
                    [m for p in parts for m in p.skipped])


def write_split(imported: Imported, output_dir: PathLike, split: str) -> int:
    """Report skips, write one split's manifests; exit status 1 when nothing usable remains."""
    for msg in imported.skipped:
        logging.warning("skipped %s", msg)
    n_rec, n_sup = len(imported.recordings), len(imported.supervisions)
    logging.info("%s: %d recording(s), %d supervision(s), %d skipped", split, n_rec, n_sup, len(imported.skipped))
    if n_sup == 0:
        logging.error("%s: nothing usable imported", split)
        return 1
    save_manifests(imported.recordings, imported.supervisions, output_dir, split)
    return 0
