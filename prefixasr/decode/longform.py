"""Long-form decoding: cut a recording into overlapping windows, decode each, stitch the pieces; or cut it
at its pauses into segments that are decoded one by one and joined (`pause_segments`).

Stitching works on timed words. Words carry times from the decoder when it has them (RNN-T emission
frames) or else spread evenly over their window (LLM output; `exact=False`). Two neighbouring
windows A and B overlap on [b0, a1]; the words of A's tail and B's head near that overlap are aligned
as a longest common subsequence in which two words may match only if they are the same word at nearly
the same time (midpoints within a tolerance, or sharing most of their time span). A matched pair is
one word (no duplicates); an unmatched word is kept when it lies on its own window's side of the
overlap's midpoint (A before it, B after it), which is where that window, not its neighbour, saw the
whole word (no lost words).
Limits: spread (LLM) times assume speech fills the window; long pauses inside a window make them
inaccurate, and words can then be duplicated or dropped at a seam. With decoder times (RNN-T) the
overlap should be at least as long as a word.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple


SPLITS = ("windows", "pauses")  # the two ways of cutting a long recording (Decoder.long_form)


@dataclass
class Word:
    text: str
    start: float
    end: float

    @property
    def mid(self) -> float:
        return 0.5 * (self.start + self.end)


@dataclass
class WindowHyp:
    start: float
    end: float
    words: List[Word]  # absolute times
    exact: bool = True  # False: times were spread evenly over the window (no decoder timing)


def make_windows(duration: float, window: float, overlap: float) -> List[Tuple[float, float]]:
    """Windows of `window` seconds every `window - overlap` seconds covering [0, duration]."""
    if not 0 <= overlap < window:
        raise ValueError(f"need 0 <= overlap < window, got overlap={overlap} window={window}")
    hop = window - overlap
    out, start = [], 0.0
    while True:
        end = min(start + window, duration)
        out.append((start, end))
        if end >= duration:
            return out
        start += hop


def pause_segments(blank: Sequence[bool], frame_sec: float, min_pause: float = 0.5, max_len: float = 20.0,
                   pad: float = 0.15) -> List[Tuple[float, float]]:
    """Speech segments of a recording from per-frame blank decisions (the encoder CTC's best label is blank),
    in seconds. A run of at least `min_pause` s of blank frames separates two segments; a segment still longer
    than `max_len` s is split at its longest inner blank run (or in the middle when it has none). Each segment
    is widened by `pad` s on either side, at most half the pause to its neighbour: a CTC emits a letter's
    spike inside the sound, so the first and last letters' sounds reach past the first and last spikes.
    Segments then match the training utterances (one sentence, about its length, little silence at the edges)
    where fixed windows cut sentences at random points, which the LLM reads badly. The defaults were chosen on
    the dev recordings; the pad matters most, since training utterances have no silence at their edges
    (docs/convergence.md, part 7)."""
    speech = [k for k, b in enumerate(blank) if not b]
    if not speech:
        return []
    runs = [(a + 1, b) for a, b in zip(speech, speech[1:]) if b > a + 1]  # inner blank runs [start, end)
    min_run = math.ceil(min_pause / frame_sec - 1e-9)

    def split(s: int, e: int) -> List[Tuple[int, int]]:
        if (e - s) * frame_sec <= max_len:
            return [(s, e)]
        inner = [(b - a, a, b) for a, b in runs if s < a and b < e]
        if inner:
            _, a, b = max(inner)
            return split(s, a) + split(b, e)
        mid = (s + e) // 2
        return split(s, mid) + split(mid, e)

    segs: List[Tuple[int, int]] = []
    start = speech[0]
    for a, b in runs:
        if b - a >= min_run:
            segs += split(start, a)
            start = b
    segs += split(start, speech[-1] + 1)
    total = len(blank) * frame_sec
    out = []
    for k, (s, e) in enumerate(segs):
        before = (s - segs[k - 1][1]) * frame_sec / 2 if k else s * frame_sec
        after = (segs[k + 1][0] - e) * frame_sec / 2 if k + 1 < len(segs) else total - e * frame_sec
        out.append((s * frame_sec - min(pad, before), e * frame_sec + min(pad, after)))
    return out


def spread_words(texts: Sequence[str], start: float, end: float) -> List[Word]:
    """Evenly spaced times for words that came without timing (the LLM path)."""
    n = len(texts)
    step = (end - start) / max(n, 1)
    return [Word(w, start + k * step, start + (k + 1) * step) for k, w in enumerate(texts)]


def _lcs_timed(a: List[Word], b: List[Word], tol: float) -> List[Tuple[Optional[int], Optional[int]]]:
    """Monotone alignment with the most matches (same text at about the same time: midpoints within
    tol, or most of the shorter copy's span shared), and among those the smallest total time difference
    (so a word is paired with the same occurrence, not a neighbour)."""
    n, m = len(a), len(b)

    def gain(i: int, j: int) -> Optional[float]:
        x, y = a[i], b[j]
        if x.text != y.text:
            return None
        dt = abs(x.mid - y.mid)
        # a word cut by a window edge keeps only its inside part: its two copies then have distant
        # midpoints but still cover mostly the same time
        shared = min(x.end, y.end) - max(x.start, y.start)
        if dt > tol and shared <= 0.5 * min(x.end - x.start, y.end - y.start):
            return None
        return 1.0 - min(dt, 2 * tol) / (2 * tol * (n + m + 1))

    dp = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            g = gain(i, j)
            dp[i][j] = max(dp[i + 1][j], dp[i][j + 1], dp[i + 1][j + 1] + g if g is not None else 0.0)
    out: List[Tuple[Optional[int], Optional[int]]] = []
    i = j = 0
    while i < n or j < m:
        g = gain(i, j) if i < n and j < m else None
        if g is not None and dp[i][j] == dp[i + 1][j + 1] + g:
            out.append((i, j))
            i, j = i + 1, j + 1
        elif j >= m or (i < n and (dp[i + 1][j] > dp[i][j + 1]
                                   or (dp[i + 1][j] == dp[i][j + 1] and a[i].mid <= b[j].mid))):
            out.append((i, None))  # on ties, the earlier word first keeps the output in time order
            i += 1
        else:
            out.append((None, j))
            j += 1
    return out


def stitch(pieces: Sequence[WindowHyp], tolerance: Optional[float] = None) -> List[Word]:
    """Join window hypotheses (in time order) into one word sequence for the recording."""
    if not pieces:
        return []
    out = list(pieces[0].words)
    prev = pieces[0]
    for cur in pieces[1:]:
        b0, a1 = cur.start, prev.end
        cut = 0.5 * (b0 + a1)
        exact = prev.exact and cur.exact
        # decoder times of one word seen by two windows differ by a frame or so (two 80 ms prefix
        # frames); spread times can be off by most of the overlap
        tol = tolerance if tolerance is not None else (0.15 if exact else max(a1 - b0, 0.5))
        tail_from = next((k for k, w in enumerate(out) if w.mid >= b0 - tol), len(out))
        head_to = next((k for k, w in enumerate(cur.words) if w.mid > a1 + tol), len(cur.words))
        tail, head = out[tail_from:], cur.words[:head_to]
        merged: List[Word] = []
        for i, j in _lcs_timed(tail, head, tol):
            if i is not None and j is not None:
                merged.append(tail[i] if tail[i].mid < cut else head[j])
            elif i is not None:
                if tail[i].mid < cut:
                    merged.append(tail[i])
            elif head[j].mid >= cut:
                merged.append(head[j])
        out = out[:tail_from] + merged + list(cur.words[head_to:])
        prev = cur
    return out


def decode_long(duration: float, window: float, overlap: float,
                decode_windows: Callable[[List[Tuple[float, float]]], List[WindowHyp]]) -> List[Word]:
    """Window a recording, decode all windows (the callback batches them), stitch."""
    spans = make_windows(duration, window, overlap)
    return stitch(decode_windows(spans))


def ctm_lines(reco: str, words: Sequence[Word], channel: str = "1") -> List[str]:
    """NIST CTM: `reco channel start duration word` (seconds, 2 decimals)."""
    return [f"{reco} {channel} {w.start:.2f} {max(w.end - w.start, 0.01):.2f} {w.text}" for w in words]
