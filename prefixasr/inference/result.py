"""What a transcription returns: text, language, and timed segments built from timed words."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from prefixasr.decode.longform import Word


@dataclass
class Segment:
    start: float  # seconds from the start of the audio
    end: float
    text: str
    words: List[Word] = field(default_factory=list)


@dataclass
class Transcription:
    text: str
    language: Optional[str]  # None when the model has no language conditioning and no LID head
    language_prob: Optional[float]  # LID posterior when the language was predicted, else None
    segments: List[Segment]
    duration: float  # seconds of (resampled) audio
    name: str = ""  # the file or "<array>" it came from

    @property
    def words(self) -> List[Word]:
        return [w for s in self.segments for w in s.words]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "duration": round(self.duration, 3),
            "language": self.language,
            "language_prob": None if self.language_prob is None else round(self.language_prob, 4),
            "text": self.text,
            "segments": [
                {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
                 "words": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(w).items()}
                           for w in s.words]}
                for s in self.segments
            ],
        }


def clean_words(words: Sequence[Word], duration: float) -> List[Word]:
    """Times clamped into [0, duration], in order and not overlapping (end_i <= start_i+1).

    Stitched windows and evenly spread LLM times can overlap slightly or overshoot the end; subtitle
    players reject cues that go backwards or past the media.
    """
    starts: List[float] = []
    t = 0.0
    for w in words:
        t = min(max(w.start, t), duration)
        starts.append(t)
    out: List[Word] = []
    for k, w in enumerate(words):
        limit = starts[k + 1] if k + 1 < len(words) else duration
        out.append(Word(w.text, starts[k], min(max(w.end, starts[k]), limit)))
    return out


def make_segments(words: Sequence[Word], max_gap: float = 0.8, max_duration: float = 6.0,
                  max_chars: int = 84) -> List[Segment]:
    """Group words into subtitle-sized segments: a new one starts after a pause longer than `max_gap`,
    or when the current one would exceed `max_duration` seconds or `max_chars` characters."""
    segments: List[Segment] = []
    cur: List[Word] = []

    def flush() -> None:
        if cur:
            segments.append(Segment(cur[0].start, max(w.end for w in cur), " ".join(w.text for w in cur), list(cur)))
            cur.clear()

    for w in words:
        if cur:
            chars = sum(len(x.text) + 1 for x in cur) + len(w.text)
            if w.start - cur[-1].end > max_gap or w.end - cur[0].start > max_duration or chars > max_chars:
                flush()
        cur.append(w)
    flush()
    return segments
