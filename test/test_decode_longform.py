"""Long-form windowing + stitching with a synthetic oracle model (transcribes perfectly what it hears).

The recording is a sequence of segments separated by pauses; decoding the segments one by one gives
their transcripts. Decoding windows and stitching must give exactly the same words, for several
window/overlap settings and for oracles with exact, jittered and no (spread) word times.
"""
import random

import pytest

from prefixasr.decode.longform import (Word, WindowHyp, ctm_lines, decode_long, make_windows, pause_segments, spread_words,
                                      stitch)


def make_recording(seed: int, num_segments: int = 12, vocab_size: int = 30):
    """Segments of 3-15 words (0.2-0.6 s each) separated by 0.1-2 s pauses; a small vocabulary so that
    the same word often recurs near a window seam."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(vocab_size)]
    t, words, segments = rng.uniform(0, 1), [], []
    for _ in range(num_segments):
        seg = []
        for _ in range(rng.randint(3, 15)):
            d = rng.uniform(0.2, 0.6)
            seg.append(Word(rng.choice(vocab), t, t + d))
            t += d
        segments.append(seg)
        words += seg
        t += rng.uniform(0.1, 2.0)
    return words, segments, t + 0.5


def oracle(words, rule: str, timing: str, rng: random.Random):
    def decode_windows(spans):
        out = []
        for ws, we in spans:
            if rule == "mid":  # hears a word when most of it is inside the window
                heard = [w for w in words if ws <= w.mid < we]
            else:  # hears only words entirely inside the window
                heard = [w for w in words if w.start >= ws and w.end <= we]
            if timing == "exact":
                out.append(WindowHyp(ws, we, list(heard)))
            elif timing == "jitter":  # frame-level disagreement between windows, times stay in the window
                def clamp(x):
                    return min(max(x, ws), we - 1e-3)
                j = [Word(w.text, clamp(w.start + rng.uniform(-0.04, 0.04)), clamp(w.end + rng.uniform(-0.04, 0.04)))
                     for w in heard]
                out.append(WindowHyp(ws, we, j))
            else:  # an LLM: words but no times
                out.append(WindowHyp(ws, we, spread_words([w.text for w in heard], ws, we), exact=False))
        return out
    return decode_windows


# an "inside" oracle needs overlap >= the longest word (0.6 s), or some word is inside no window at all
SETTINGS = [(w, o, rule) for w, o in [(4.0, 1.0), (6.0, 2.0), (10.0, 3.0), (3.0, 1.5), (8.0, 0.0), (5.0, 0.3)]
            for rule in ("mid", "inside") if rule == "mid" or o >= 0.6]


@pytest.mark.parametrize("window,overlap,rule", SETTINGS)
@pytest.mark.parametrize("timing", ["exact", "jitter"])
def test_windows_equal_segments_timed(window, overlap, timing, rule):
    for seed in range(30):
        words, segments, dur = make_recording(seed)
        rng = random.Random(seed)
        got = decode_long(dur, window, overlap, oracle(words, rule, timing, rng))
        expected = [w.text for seg in segments for w in seg]
        assert [w.text for w in got] == expected, (seed, window, overlap)


@pytest.mark.parametrize("window,overlap", [(10.0, 3.0), (15.0, 5.0), (20.0, 4.0)])
def test_windows_equal_segments_untimed(window, overlap):
    """LLM-like oracle with no timing: times are spread over the window. Continuous speech (short pauses)
    and a large vocabulary, the conditions under which spread times are meaningful."""
    for seed in range(20):
        rng = random.Random(seed)
        vocab = [f"w{i}" for i in range(5000)]
        t, words = 0.3, []
        for _ in range(150):
            d = rng.uniform(0.25, 0.5)
            words.append(Word(rng.choice(vocab), t, t + d))
            t += d + rng.uniform(0.0, 0.15)
        got = decode_long(t + 0.3, window, overlap, oracle(words, "mid", "spread", rng))
        assert [w.text for w in got] == [w.text for w in words], (seed, window, overlap)


def test_make_windows_cover_and_ctm():
    spans = make_windows(25.0, 10.0, 2.0)
    assert spans == [(0.0, 10.0), (8.0, 18.0), (16.0, 25.0)]
    assert make_windows(5.0, 10.0, 2.0) == [(0.0, 5.0)]
    with pytest.raises(ValueError):
        make_windows(5.0, 2.0, 2.0)
    assert stitch([]) == []
    assert ctm_lines("rec1", [Word("क", 1.0, 1.25)]) == ["rec1 1 1.00 0.25 क"]


def blank_frames(segments, total: float, frame: float = 0.04, rng=None):
    """Per-frame blank decisions of a CTC that spikes on every word's start and then every 0.1-0.25 s of it."""
    blank = [True] * int(round(total / frame))
    for seg in segments:
        for w in seg:
            t = w.start
            while t < w.end:
                blank[min(int(t / frame), len(blank) - 1)] = False
                t += rng.uniform(0.1, 0.25) if rng else 0.1
    return blank


@pytest.mark.parametrize("seed", range(20))
def test_pause_segments_find_the_sentences(seed):
    """Sentences separated by pauses of 0.5 s or more come back one segment each, covering their words, padded
    into the pause by at most half of it; frames are 40 ms."""
    rng = random.Random(seed)
    words, segments, total = make_recording(seed)
    for k in range(1, len(segments)):  # make every pause at least 0.5 s
        shift = max(0.0, 0.5 - (segments[k][0].start - segments[k - 1][-1].end))
        for seg in segments[k:]:
            for w in seg:
                w.start, w.end = w.start + shift, w.end + shift
    total = segments[-1][-1].end + 0.7
    spans = pause_segments(blank_frames(segments, total, rng=rng), 0.04, min_pause=0.3, max_len=60.0, pad=0.25)
    assert len(spans) == len(segments)
    for (s, e), seg in zip(spans, segments):
        assert s <= seg[0].start and seg[-1].end - 0.3 <= e  # the last spike is within 0.25 s of the end
    assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))
    assert spans[0][0] >= 0 and spans[-1][1] <= total + 1e-9


def same(got, want) -> bool:
    return [t for span in got for t in span] == pytest.approx([t for span in want for t in span])


def test_pause_segments_split_long_runs_and_edges():
    # speech 0-30 s with a 0.2 s gap at 12 s and a 0.12 s gap at 20 s: too short to be pauses, but a 30 s
    # segment is over max_len, so it is cut at its longest inner gap first, and so on; a piece without gaps in half
    blank = [False] * 750
    for k in range(300, 305):
        blank[k] = True
    for k in range(500, 503):
        blank[k] = True
    assert same(pause_segments(blank, 0.04, min_pause=0.3, max_len=20.0, pad=0.25),
                [(0.0, 12.1), (12.1, 30.0)])
    assert same(pause_segments(blank, 0.04, min_pause=0.3, max_len=10.0, pad=0.0),
                [(0.0, 6.0), (6.0, 12.0), (12.2, 20.0), (20.12, 30.0)])
    # no gap at all: halved until short enough
    assert same(pause_segments([False] * 500, 0.04, max_len=8.0, pad=0.0),
                [(0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.0)])
    assert pause_segments([True] * 100, 0.04) == []
    # leading/trailing silence is never a segment; the pad stops at the recording's edges
    assert same(pause_segments([True] * 3 + [False] * 10 + [True] * 50, 0.04, pad=0.25), [(0.0, 0.77)])
