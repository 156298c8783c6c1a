"""A frozen encoder's outputs computed once per cut and stored as lhotse features (the library behind
prefixasr.bin.cache_encoder).

The cuts are split, in their order, into shards of about `shard_duration` seconds of audio. Each shard is encoded
(cuts sorted by length and batched by `batch_duration` seconds, model/extractors.py `EncoderOutputs`) into its own
LilcomChunky archive `<storage>/shard-NNNNN.lca` and cut manifest `<storage>/shard-NNNNN.jsonl.gz`, both written
under temporary names and renamed when complete: a shard's manifest means the shard is done. A rerun skips the done
shards (resumable), and `output_cuts` (every shard's cuts, in the input order) is written last, so its presence means
the split is done. `<storage>/plan.json` records what the shards were made from (cut ids, encoder, storage); a rerun
with other cuts or settings stops instead of mixing outputs.

Storage: lilcom rounds each value to a multiple of 2^tick_power (absolute). Whisper base's outputs (std 1.5,
max |x| about 18 on speech): tick_power -8 keeps them within 2^-9 = 0.002 (rms 0.0011, 0.08% of their std) at 1.23
bytes a value, about 113 MB per hour of audio (float32: 4 bytes, 369 MB; lhotse's default -5: 0.016, 0.86 bytes).
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from lhotse import CutSet, Features, LilcomChunkyWriter, MonoCut
from lhotse.cut import MixedCut
from lhotse.utils import fastcopy

from prefixasr.common import PathLike, atomic_write
from prefixasr.data.augment import augment as augmented
from prefixasr.model.extractors import SAMPLE_RATE, EncoderOutputs, EncoderOutputsConfig

_worker: Dict[str, Any] = {}  # the extractor of a pool worker (one model load per process)


def plan_shards(cuts: List[Any], shard_duration: float) -> List[List[int]]:
    """Indices of consecutive cuts, about `shard_duration` seconds of audio a shard."""
    shards: List[List[int]] = [[]]
    total = 0.0
    for i, cut in enumerate(cuts):
        if shards[-1] and total >= shard_duration:
            shards.append([])
            total = 0.0
        shards[-1].append(i)
        total += cut.duration
    return shards if shards[0] else []


def _batches(cuts: List[Any], batch_duration: float) -> Iterator[List[Any]]:
    """Cuts by length, at most `batch_duration` seconds (of the longest cut, padded) a batch."""
    batch: List[Any] = []
    for cut in sorted(cuts, key=lambda c: c.duration):
        if batch and cut.duration * (len(batch) + 1) > batch_duration:
            yield batch
            batch = []
        batch.append(cut)
    if batch:
        yield batch


def _mono_16k(cut: Any) -> Any:
    if not isinstance(cut, (MonoCut, MixedCut)):
        raise ValueError(f"cut {cut.id} is a {type(cut).__name__}: cache_encoder reads MonoCuts and MixedCuts")
    if not cut.has_recording:
        raise ValueError(f"cut {cut.id} has no recording: the frozen encoder reads audio")
    return cut.resample(SAMPLE_RATE) if cut.sampling_rate != SAMPLE_RATE else cut


def _with_features(cut: Any, features: Features) -> MonoCut:
    """`cut` holding `features`; a mix becomes a MonoCut of the mix's features without audio (lhotse's
    `mix_eagerly`), its supervisions kept."""
    if isinstance(cut, MonoCut):
        return fastcopy(cut, features=features)
    features.recording_id = cut.id
    return MonoCut(id=cut.id, start=0, duration=cut.duration, channel=0, features=features, recording=None,
                   supervisions=[fastcopy(s, recording_id=cut.id) for s in cut.supervisions])


def encode_shard(extractor: EncoderOutputs, cuts: List[Any], storage: Path, index: int, batch_duration: float,
                 tick_power: int) -> float:
    """Encode one shard into `storage`/shard-NNNNN.{lca,jsonl.gz} (temporary names, renamed when complete);
    returns its seconds of audio."""
    stem = f"shard-{index:05d}"
    archive, tmp_archive = storage / f"{stem}.lca", storage / f".tmp.{stem}.lca"
    done: Dict[str, Any] = {}
    with LilcomChunkyWriter(tmp_archive, tick_power=tick_power) as writer:
        for batch in _batches([_mono_16k(c) for c in cuts], batch_duration):
            audio = []
            for cut in batch:
                try:
                    audio.append(cut.load_audio())
                except Exception as err:  # lhotse/soundfile errors: name the cut and its file
                    raise ValueError(f"cut {cut.id}: cannot read its audio ({err})") from None
            for cut, feats in zip(batch, extractor.extract_batch(audio, SAMPLE_RATE)):
                key = writer.write(cut.id, feats)
                done[cut.id] = _with_features(cut, Features(
                    type=extractor.name, num_frames=feats.shape[0], num_features=feats.shape[1],
                    frame_shift=extractor.frame_shift, sampling_rate=cut.sampling_rate,
                    start=cut.start if isinstance(cut, MonoCut) else 0.0, duration=cut.duration,
                    storage_type=writer.name, storage_path=str(archive), storage_key=key,
                    recording_id=getattr(cut, "recording_id", cut.id), channels=getattr(cut, "channel", 0)))
    tmp_archive.replace(archive)
    manifest = storage / f"{stem}.jsonl.gz"
    tmp = storage / f".tmp.{stem}.jsonl.gz"
    CutSet.from_cuts(done[c.id] for c in cuts).to_file(tmp)
    tmp.replace(manifest)
    return float(sum(c.duration for c in cuts))


def _init_worker(config: EncoderOutputsConfig) -> None:
    import torch

    torch.set_num_threads(1)  # the parallelism comes from the processes
    _worker["extractor"] = EncoderOutputs(config)


def _run_shard(args: Tuple[List[Any], Path, int, float, int]) -> Tuple[int, float]:
    import torch

    cuts, storage, index, batch_duration, tick_power = args
    torch.manual_seed(index)  # lhotse's random room impulse responses draw from torch's generator: same copies again
    return index, encode_shard(_worker["extractor"], cuts, storage, index, batch_duration, tick_power)


def _check_plan(storage: Path, plan: Dict[str, Any]) -> None:
    """Write `storage`/plan.json, or check that the shards already there were made from the same plan."""
    path = storage / "plan.json"
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != plan:
            diff = sorted(k for k in plan if old.get(k) != plan[k])
            raise ValueError(f"{storage} holds shards of other cuts or settings (differs in {', '.join(diff)}): "
                             "delete it, or rerun with the same input and options")
        return
    with atomic_write(path) as f:
        json.dump(plan, f, indent=1)


def _fmt(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"


def cache_encoder_outputs(cuts: CutSet, output_cuts: PathLike, config: EncoderOutputsConfig, num_jobs: int = 1,
                          batch_duration: float = 60.0, shard_duration: float = 600.0, tick_power: int = -8,
                          augment: Sequence[str] = (), storage: Optional[PathLike] = None) -> CutSet:
    """The frozen encoder's outputs for every cut, stored as features; writes `output_cuts` last.
    `augment`: augmented copies added before encoding (data/augment.py: speed, noise, reverb).
    `storage`: the shards' directory (default: <output_cuts dir>/<its name's stem>_feats)."""
    output_cuts = Path(output_cuts)
    if output_cuts.is_file():
        logging.info("%s exists: encoder outputs already cached, skipping", output_cuts)
        return CutSet.from_file(output_cuts)
    if augment:
        cuts = augmented(cuts, augment)
    cuts = list(cuts.to_eager())
    if not cuts:
        raise ValueError("no cuts to encode")
    if num_jobs > 1 and config.device != "cpu":
        raise ValueError(f"--num-jobs {num_jobs} with --device {config.device}: one process feeds an accelerator "
                         "(larger --batch-duration is what makes it fast)")
    storage = Path(storage) if storage else output_cuts.parent / (output_cuts.name.split(".")[0] + "_feats")
    storage.mkdir(parents=True, exist_ok=True)
    shards = plan_shards(cuts, shard_duration)
    ids = hashlib.sha1("\n".join(c.id for c in cuts).encode("utf-8")).hexdigest()
    _check_plan(storage, {"cuts": ids, "num_cuts": len(cuts), "shards": [len(s) for s in shards],
                          "encoder": str(Path(config.path).resolve()), "name": config.name, "tick_power": tick_power})
    todo = [i for i in range(len(shards)) if not (storage / f"shard-{i:05d}.jsonl.gz").is_file()]
    total = sum(c.duration for c in cuts)
    left = sum(cuts[j].duration for i in todo for j in shards[i])
    logging.info("%d cuts, %s of audio, %d shards (%d done already) -> %s", len(cuts), _fmt(total), len(shards),
                 len(shards) - len(todo), storage)
    jobs = [([cuts[j] for j in shards[i]], storage, i, batch_duration, tick_power) for i in todo]
    t0, done = time.time(), 0.0

    def progress(index: int, seconds: float) -> None:
        nonlocal done
        done += seconds
        elapsed = time.time() - t0
        rate = done / max(elapsed, 1e-9)
        logging.info("shard %d/%d: %.1f of %.1f min of audio (%.0f%%), %.1fx real time, ETA %s", index + 1,
                     len(shards), done / 60, left / 60, 100 * done / max(left, 1e-9), rate,
                     _fmt((left - done) / max(rate, 1e-9)))

    if jobs and num_jobs <= 1:
        if config.device == "cpu":
            import torch

            torch.set_num_threads(1)  # as compute_fbank: CPU parallelism is --num-jobs processes
        _worker["extractor"] = EncoderOutputs(config)
        t0 = time.time()  # the rate and ETA without the model's loading
        for job in jobs:
            progress(*_run_shard(job))
    elif jobs:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(min(num_jobs, len(jobs)), mp_context=multiprocessing.get_context(method),
                                 initializer=_init_worker, initargs=(config,)) as pool:
            for future in as_completed([pool.submit(_run_shard, job) for job in jobs]):
                progress(*future.result())
    out = CutSet.from_cuts(c for i in range(len(shards)) for c in CutSet.from_file(storage / f"shard-{i:05d}.jsonl.gz"))
    tmp = output_cuts.with_name(f".tmp.{output_cuts.name}")
    out.to_file(tmp)
    tmp.replace(output_cuts)
    elapsed = time.time() - t0
    logging.info("%s of %d cuts (%s of audio) cached in %.1f s (%.1fx real time) -> %s",
                 next(iter(out)).features.type, len(cuts), _fmt(total), elapsed, left / max(elapsed, 1e-9), output_cuts)
    return out
