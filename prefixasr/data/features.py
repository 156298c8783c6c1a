"""80-dim fbank with lhotse, stored with LilcomChunkyWriter; parallel; resumable (a finished split is skipped)."""
from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter

from prefixasr.common import PathLike

FRAME_SHIFT = 0.01  # seconds per fbank frame (lhotse's Fbank default); decoding and training count time with it


def _worker_init() -> None:
    """One torch thread per worker: the parallelism comes from the processes (2 workers x 2 threads on 2 cores
    oversubscribe the CPU)."""
    import torch

    torch.set_num_threads(1)


def _executor(num_jobs: int) -> ProcessPoolExecutor:
    """A process pool whose workers start fast.

    lhotse's default pool uses "spawn": every worker re-imports torch + lhotse (about 2-5 s each on a busy 2-core
    machine), which cost more than the extraction itself (about 1 s per 10 min of audio per core). "fork" workers
    inherit the already-imported modules; where fork is unavailable (macOS/Windows) we fall back to spawn.
    """
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(num_jobs, mp_context=multiprocessing.get_context(method), initializer=_worker_init)


def _balanced_order(cuts: CutSet, num_jobs: int) -> CutSet:
    """Reorder so that lhotse's round-robin split (job k takes cuts k, k+n, ...) gives each job about the same
    amount of audio: longest first, in a snake order (0,1,...,n-1,n-1,...,0, ...)."""
    by_len = sorted(cuts, key=lambda c: c.duration, reverse=True)
    out = []
    for i in range(0, len(by_len), num_jobs):
        block = by_len[i:i + num_jobs]
        out.extend(block if (i // num_jobs) % 2 == 0 else block[::-1])
    return CutSet.from_cuts(out)


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
    extractor = Fbank(FbankConfig(num_mel_bins=num_mel_bins))
    num_jobs = max(1, min(num_jobs, len(cuts)))
    if num_jobs == 1:
        with_feats = cuts.compute_and_store_features(
            extractor=extractor, storage_path=storage_path, num_jobs=1, storage_type=LilcomChunkyWriter,
        )
    else:
        with _executor(num_jobs) as ex:
            with_feats = _balanced_order(cuts, num_jobs).compute_and_store_features(
                extractor=extractor, storage_path=storage_path, num_jobs=num_jobs, storage_type=LilcomChunkyWriter,
                executor=ex,
            )
        # Back to the input order (lhotse returns the jobs' results one job after another).
        by_id = {c.id: c for c in with_feats}
        with_feats = CutSet.from_cuts(by_id[c.id] for c in cuts if c.id in by_id)
    elapsed = time.time() - t0
    tmp = output_cuts.with_name(f".tmp.{output_cuts.name}")
    with_feats.to_file(tmp)
    tmp.replace(output_cuts)
    logging.info("fbank: %d cuts, %.2f h of audio in %.1f s (%.0fx real time) → %s", len(cuts), audio_s / 3600,
                 elapsed, audio_s / max(elapsed, 1e-6), output_cuts)
    return with_feats
