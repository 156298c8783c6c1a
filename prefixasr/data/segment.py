"""Segmentation: supervision-level cuts for train/dev (filtered, every drop logged with its reason)
and whole long recordings for long-form testing."""
from __future__ import annotations

import logging
from collections import Counter
from typing import Tuple

from lhotse import CutSet, RecordingSet, SupervisionSet


def segment_cuts(recordings: RecordingSet, supervisions: SupervisionSet) -> CutSet:
    """One cut per supervision (overlapping speech of other supervisions is not kept)."""
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    return cuts.trim_to_supervisions(keep_overlapping=False).to_eager()


def long_cuts(recordings: RecordingSet, supervisions: SupervisionSet) -> CutSet:
    """One cut per whole recording, carrying all of its supervisions (long-form test)."""
    return CutSet.from_manifests(recordings=recordings, supervisions=supervisions).to_eager()


def filter_cuts(cuts: CutSet, min_duration: float = 1.0, max_duration: float = 20.0) -> Tuple[CutSet, Counter]:
    """Drop cuts outside [min_duration, max_duration]; each drop is logged with the cut id and reason. Returns
    the kept cuts and counts per reason. (What a model cannot learn from, e.g. more tokens than prefix frames,
    is the trainer's CutFilter: it knows the encoder's frame rate and the loss.)"""
    kept, reasons = [], Counter()
    for cut in cuts:
        if cut.duration < min_duration:
            reason = f"duration {cut.duration:.2f}s < {min_duration}s"
            reasons["too-short"] += 1
        elif cut.duration > max_duration:
            reason = f"duration {cut.duration:.2f}s > {max_duration}s"
            reasons["too-long"] += 1
        else:
            kept.append(cut)
            continue
        logging.warning("dropped cut %s: %s", cut.id, reason)
    logging.info("kept %d of %d cuts; dropped: %s", len(kept), len(kept) + sum(reasons.values()),
                 dict(reasons) or "none")
    return CutSet.from_cuts(kept), reasons
