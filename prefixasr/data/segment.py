"""Segmentation: supervision-level cuts for train/dev (filtered, every drop logged with its reason)
and whole long recordings for long-form testing."""
from __future__ import annotations

import logging
from collections import Counter
from typing import Optional, Tuple

from lhotse import CutSet, RecordingSet, SupervisionSet

from prefixasr.data.tokenizer import Tokenizer


def segment_cuts(recordings: RecordingSet, supervisions: SupervisionSet) -> CutSet:
    """One cut per supervision (overlapping speech of other supervisions is not kept)."""
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    return cuts.trim_to_supervisions(keep_overlapping=False).to_eager()


def long_cuts(recordings: RecordingSet, supervisions: SupervisionSet) -> CutSet:
    """One cut per whole recording, carrying all of its supervisions (long-form test)."""
    return CutSet.from_manifests(recordings=recordings, supervisions=supervisions).to_eager()


def frames_after_subsampling(num_frames: int, subsampling_factor: int) -> int:
    # Conv2d ×4 subsampling as in icefall: ((T - 7) // 2 + 1) // 2; other factors divide plainly.
    if subsampling_factor == 4:
        return ((num_frames - 7) // 2 + 1) // 2
    return num_frames // subsampling_factor


def filter_cuts(
    cuts: CutSet, min_duration: float = 1.0, max_duration: float = 20.0, tokenizer: Optional[Tokenizer] = None,
    subsampling_factor: int = 4, frame_shift: float = 0.01,
) -> Tuple[CutSet, Counter]:
    """Drop cuts outside [min_duration, max_duration] and, with a tokenizer, cuts whose frames after
    subsampling T' satisfy T' - 2 < number of tokens (the transducer cannot emit them all).
    Each drop is logged with the cut id and reason; returns the kept cuts and counts per reason."""
    kept, reasons = [], Counter()
    for cut in cuts:
        if cut.duration < min_duration:
            reason = f"duration {cut.duration:.2f}s < {min_duration}s"
            reasons["too-short"] += 1
        elif cut.duration > max_duration:
            reason = f"duration {cut.duration:.2f}s > {max_duration}s"
            reasons["too-long"] += 1
        else:
            reason = None
            if tokenizer is not None:
                n_tokens = len(tokenizer.encode(" ".join(s.text or "" for s in cut.supervisions)))
                t = frames_after_subsampling(int(round(cut.duration / frame_shift)), subsampling_factor)
                if t - 2 < n_tokens:
                    reason = f"{t} frames after subsampling for {n_tokens} tokens"
                    reasons["too-many-tokens"] += 1
            if reason is None:
                kept.append(cut)
                continue
        logging.warning("dropped cut %s: %s", cut.id, reason)
    logging.info("kept %d of %d cuts; dropped: %s", len(kept), len(kept) + sum(reasons.values()),
                 dict(reasons) or "none")
    return CutSet.from_cuts(kept), reasons
