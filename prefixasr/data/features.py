"""Features with lhotse, stored with LilcomChunkyWriter; parallel; resumable (a finished split is skipped).

The recipe's 80-dim Kaldi fbank by default, or any lhotse extractor given (Whisper's own log-mel:
prefixasr/model/extractors.py). Each encoder reads one kind of input (its `input_kind`): `FEATURE_TYPES` names the
lhotse feature types that hold it, and `check_feature_kind` refuses cuts of another kind, so an encoder is never fed
features it was not trained on (Kaldi fbank and Whisper's log-mel are both 80 wide: only their type tells them apart).
"""
from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, List, Optional, Sequence

from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter
from lhotse.features.base import FeatureExtractor

from prefixasr.common import PathLike

FRAME_SHIFT = 0.01  # seconds per fbank frame (lhotse's Fbank default); decoding and training count time with it

# What an encoder reads (its `input_kind`; model/hf_encoder.py, model/adapter.py) ...
FBANK, WHISPER_MEL, WAVEFORM = "fbank", "whisper_mel", "waveform"
ENCODER_PREFIX = "encoder:"  # "encoder:<name>": a frozen encoder's outputs, cached by prefixasr.bin.cache_encoder
WHISPER_LOGMEL = "whisper-logmel"  # the lhotse feature type of Whisper's own log-mel (model/extractors.py)
# ... and the lhotse feature types that hold it: lhotse's Fbank ("kaldi-fbank"), and the same Kaldi fbank computed by
# kaldifeat or torchaudio; Whisper's log-mel. Waveform encoders read audio, never stored features.
FEATURE_TYPES = {FBANK: ("kaldi-fbank", "kaldifeat-fbank", "fbank"), WHISPER_MEL: (WHISPER_LOGMEL,), WAVEFORM: ()}
_HOW = {FBANK: "python -m prefixasr.bin.compute_fbank --kind fbank",
        WHISPER_MEL: "python -m prefixasr.bin.compute_fbank --kind whisper_mel"}


def encoder_feature_type(name: str) -> str:
    """The lhotse feature type of the cached outputs of the frozen encoder called `name`: "encoder:<name>"."""
    return ENCODER_PREFIX + name


def feature_types(input_kind: str) -> tuple:
    """The lhotse feature types an encoder reading `input_kind` accepts (none for waveform encoders)."""
    if input_kind.startswith(ENCODER_PREFIX):
        return (input_kind,)
    if input_kind not in FEATURE_TYPES:
        raise ValueError(f"unknown encoder input kind {input_kind!r}; known: {sorted(FEATURE_TYPES)}, encoder:<name>")
    return FEATURE_TYPES[input_kind]


def _how_to_make(input_kind: str) -> str:
    if input_kind.startswith(ENCODER_PREFIX):
        name = input_kind[len(ENCODER_PREFIX):]
        return f"cache them with python -m prefixasr.bin.cache_encoder --name {name} --encoder <its directory>"
    return f"compute them with {_HOW[input_kind]}" if input_kind in _HOW else "it reads 16 kHz audio"


def _cuts_of(source: Any) -> List[Any]:
    """The cuts `check_feature_kind` looks at: a cut itself, every cut of a lhotse batch (a dict with
    supervisions["cut"]), or the first cut of a CutSet or other iterable (a lazy manifest is not read through)."""
    if source is None:
        return []
    if isinstance(source, dict):
        return list({c.id: c for c in source["supervisions"]["cut"]}.values())
    if hasattr(source, "has_features"):
        return [source]
    return [cut for cut, _ in zip(source, range(1))]


def _feature_type(cut: Any) -> Optional[str]:
    feats = getattr(cut, "features", None)
    if feats is None and getattr(cut, "tracks", None):  # a MixedCut: its first track's features
        feats = getattr(cut.tracks[0].cut, "features", None)
    return None if feats is None else feats.type


def check_feature_kind(cuts: Any, encoder: Any, on_the_fly: bool = False) -> None:
    """Refuse (ValueError, one line naming the cut and both kinds) features that are not what `encoder` reads.

    `cuts`: a cut, a lhotse batch (every cut of it) or a CutSet (its first cut); None is skipped. `encoder`: anything
    with an `input_kind` (fbank when it has none) and, optionally, `input_dim` (the feature width it reads).
    `on_the_fly`: the loader computes the features from audio (data.loader.on_the_fly_feats) with the encoder's
    own extractor (model/extractors.py `extractor_for`), so the stored ones do not matter; cached encoder outputs
    are refused there (running the frozen encoder again on every batch is what the cache avoids).
    """
    kind = getattr(encoder, "input_kind", FBANK)
    types = feature_types(kind)
    if on_the_fly:
        if kind.startswith(ENCODER_PREFIX):
            raise ValueError(f"data.loader.on_the_fly_feats: the encoder reads {kind!r}, a frozen encoder's cached "
                             f"outputs: {_how_to_make(kind)} and train on the cached cuts")
        return
    for cut in _cuts_of(cuts):
        found = _feature_type(cut) if cut.has_features else None
        if not types:
            raise ValueError(f"cut {cut.id}: the encoder reads {kind} (16 kHz audio), which the data loader does "
                             "not feed: use an encoder that reads fbank or Whisper's log-mel")
        if found is None:
            raise ValueError(f"cut {cut.id} has no features but the encoder reads {types[0]!r}: {_how_to_make(kind)}"
                             " (or set data.loader.on_the_fly_feats: true)")
        if found not in types:
            raise ValueError(f"cut {cut.id} has features of type {found!r} but the encoder reads {types[0]!r} "
                             f"(input kind {kind}): {_how_to_make(kind)}")
        dim = getattr(encoder, "input_dim", None)
        if dim is not None and cut.num_features != dim:
            raise ValueError(f"cut {cut.id} has {cut.num_features}-dim {found!r} features but the encoder reads "
                             f"{dim}-dim ones (model.input_dim)")


def feature_frame_shift(cuts: Any) -> float:
    """Seconds per feature frame of `cuts` (as `check_feature_kind` reads them): their stored features' frame
    shift (20 ms for Whisper's cached outputs), FRAME_SHIFT without features (fbank or log-mel on the fly)."""
    for cut in _cuts_of(cuts):
        if cut.has_features and cut.frame_shift:
            return float(cut.frame_shift)
    return FRAME_SHIFT


def _worker_init() -> None:
    """One torch thread per worker: the parallelism comes from the processes (2 workers x 2 threads on 2 cores
    oversubscribe the CPU)."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)  # lhotse's random room impulse responses draw from torch's generator: the same copies again


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
    cuts: CutSet, output_cuts: PathLike, storage_path: PathLike, num_jobs: int = 2, augment: Sequence[str] = (),
    num_mel_bins: int = 80, extractor: Optional[FeatureExtractor] = None,
) -> CutSet:
    """Features for `cuts` into `storage_path`; writes `output_cuts` last, so its presence means done.
    `augment`: augmented copies added first (data/augment.py: speed, noise, reverb; a mix's features are of the
    mixed audio). `extractor`: a lhotse feature extractor (default: Kaldi fbank of `num_mel_bins` bins)."""
    output_cuts = Path(output_cuts)
    if output_cuts.is_file():
        logging.info("%s exists: features already computed, skipping", output_cuts)
        return CutSet.from_file(output_cuts)
    if augment:
        from prefixasr.data.augment import augment as augmented

        cuts = augmented(cuts, augment)
    cuts = cuts.to_eager()
    audio_s = sum(c.duration for c in cuts)
    t0 = time.time()
    import torch

    torch.set_num_threads(1)  # parallelism comes from num_jobs processes
    torch.manual_seed(0)  # as _worker_init
    # A partial storage file from an interrupted run is replaced, not appended to.
    Path(storage_path).parent.mkdir(parents=True, exist_ok=True)
    extractor = extractor if extractor is not None else Fbank(FbankConfig(num_mel_bins=num_mel_bins))
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
    logging.info("%s: %d cuts, %.2f h of audio in %.1f s (%.0fx real time) → %s", extractor.name, len(cuts),
                 audio_s / 3600, elapsed, audio_s / max(elapsed, 1e-6), output_cuts)
    return with_feats
