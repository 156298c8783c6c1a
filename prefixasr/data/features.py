"""80-dim fbank with lhotse, stored with LilcomChunkyWriter; parallel; resumable (a finished split is skipped)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter

from prefixasr.common import PathLike


def compute_fbank(
    cuts: CutSet, output_cuts: PathLike, storage_path: PathLike, num_jobs: int = 2, speed_perturb: bool = False,
    num_mel_bins: int = 80,
) -> CutSet:
    """Features for `cuts` into `storage_path`; writes `output_cuts` last, so its presence means done."""
    output_cuts = Path(output_cuts)
    if output_cuts.is_file():
        logging.info("%s exists: features already computed, skipping", output_cuts)
        return CutSet.from_file(output_cuts)
    if speed_perturb:
        # Speed perturbation changes pitch and tempo: three copies of the data, as in icefall/ESPnet.
        cuts = cuts + cuts.perturb_speed(0.9) + cuts.perturb_speed(1.1)
    cuts = cuts.to_eager()
    audio_s = sum(c.duration for c in cuts)
    t0 = time.time()
    import torch

    torch.set_num_threads(1)  # parallelism comes from num_jobs processes
    # A partial storage file from an interrupted run is replaced, not appended to.
    Path(storage_path).parent.mkdir(parents=True, exist_ok=True)
    with_feats = cuts.compute_and_store_features(
        extractor=Fbank(FbankConfig(num_mel_bins=num_mel_bins)), storage_path=storage_path,
        num_jobs=num_jobs, storage_type=LilcomChunkyWriter,
    )
    elapsed = time.time() - t0
    tmp = output_cuts.with_name(f".tmp.{output_cuts.name}")
    with_feats.to_file(tmp)
    tmp.replace(output_cuts)
    logging.info("fbank: %d cuts, %.2f h of audio in %.1f s (%.0fx real time) → %s", len(cuts), audio_s / 3600,
                 elapsed, audio_s / max(elapsed, 1e-6), output_cuts)
    return with_feats
