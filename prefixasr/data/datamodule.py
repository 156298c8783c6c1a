"""Data loading for training and decoding: lhotse sampler + dataset → `AsrBatch`.

Training batches are built by `DynamicBucketingSampler` (total audio per batch ≤ max_duration, cuts of
similar length together; DDP-aware through world_size/rank, or torch.distributed when those are None;
evaluation uses a plain `SimpleCutSampler` in corpus order) and
`K2SpeechRecognitionDataset(return_cuts=True)`, so every batch carries its cuts and therefore each
utterance's language. `unpack_batch` turns lhotse's dict into the project's `AsrBatch`.
"""
from __future__ import annotations

import itertools

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
from lhotse import CutSet, Fbank, FbankConfig
from lhotse.dataset import DynamicBucketingSampler, K2SpeechRecognitionDataset, SimpleCutSampler, SpecAugment
from lhotse.dataset.input_strategies import OnTheFlyFeatures, PrecomputedFeatures
from lhotse.utils import LOG_EPSILON, compute_num_frames
from torch.utils.data import DataLoader

from prefixasr.data.batch import AsrBatch
from prefixasr.data.features import FRAME_SHIFT
from prefixasr.data.text import normalize_text


@dataclass
class DataConfig:
    """Loader options; the YAML `data:` section of a training config maps onto these fields."""

    max_duration: float = 200.0  # seconds of audio per batch (before padding)
    num_buckets: int = 10
    shuffle: bool = True
    drop_last: bool = True
    buffer_size: int = 20000
    seed: int = 42
    num_workers: int = 2
    world_size: Optional[int] = None  # None: taken from torch.distributed when initialised
    rank: Optional[int] = None
    # compute the features from audio instead of reading stored ones: with the extractor given to AsrDataModule
    # (the trainer gives the encoder's own kind: model/extractors.py extractor_for), else 80-dim Kaldi fbank
    on_the_fly_feats: bool = False
    num_mel_bins: int = 80
    spec_augment: bool = True
    time_warp_factor: int = 80
    num_feature_masks: int = 2
    features_mask_size: int = 27
    num_frame_masks: int = 10
    frames_mask_size: int = 100
    max_frames_mask_fraction: float = 0.15


class AsrDataModule:
    """Builds train/valid/test dataloaders over lhotse CutSets. `extractor`: the lhotse feature extractor of
    on-the-fly features (default: Kaldi fbank of `num_mel_bins` bins); the encoder's own kind (Whisper's log-mel,
    model/extractors.py) is the caller's to give."""

    def __init__(self, config: DataConfig | None = None, extractor: Any = None, **overrides: Any):
        self.config = dataclasses.replace(config or DataConfig(), **overrides)
        self.extractor = extractor
        if self.config.num_buckets < 2:
            raise ValueError(f"num_buckets must be >= 2 (lhotse's bucketing), got {self.config.num_buckets}")

    @classmethod
    def from_dict(cls, d: Dict[str, Any], extractor: Any = None) -> "AsrDataModule":
        """From a config mapping; unknown keys are an error so typos in YAML do not pass silently."""
        known = {f.name for f in dataclasses.fields(DataConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown data option(s) {unknown}; known: {sorted(known)}")
        return cls(DataConfig(**d), extractor=extractor)

    def _input_strategy(self):
        if self.config.on_the_fly_feats:
            return OnTheFlyFeatures(self.extractor or Fbank(FbankConfig(num_mel_bins=self.config.num_mel_bins)))
        return PrecomputedFeatures()

    def _sampler(self, cuts: CutSet, train: bool):
        c = self.config
        if not train:
            # Evaluation order does not matter, and bucketing would fail on test sets with fewer
            # cuts than buckets (a handful of long recordings).
            return SimpleCutSampler(cuts, max_duration=c.max_duration, shuffle=False,
                                    world_size=c.world_size, rank=c.rank)
        # lhotse asserts num_buckets <= number of cuts; a tiny corpus gets fewer buckets instead.
        num_buckets = sum(1 for _ in itertools.islice(cuts, c.num_buckets))
        if num_buckets < 2:
            return SimpleCutSampler(cuts, max_duration=c.max_duration, shuffle=c.shuffle,
                                    world_size=c.world_size, rank=c.rank, seed=c.seed)
        return DynamicBucketingSampler(
            cuts,
            max_duration=c.max_duration,
            num_buckets=num_buckets,
            shuffle=c.shuffle,
            drop_last=c.drop_last,
            buffer_size=c.buffer_size,
            world_size=c.world_size,
            rank=c.rank,
            seed=c.seed,
        )

    def _loader(self, cuts: CutSet, train: bool) -> DataLoader:
        c = self.config
        transforms = [spec_augment(c)] if train and c.spec_augment else []
        dataset = K2SpeechRecognitionDataset(
            input_strategy=self._input_strategy(), input_transforms=transforms, return_cuts=True
        )
        sampler = self._sampler(cuts, train)
        logging.debug("dataloader: train=%s max_duration=%.0fs", train, c.max_duration)
        # batch_size=None: the sampler already yields whole batches (CutSets).
        return DataLoader(
            dataset, sampler=sampler, batch_size=None, num_workers=c.num_workers,
            persistent_workers=False,
        )

    def train_dataloader(self, cuts: CutSet, sampler_state: Optional[Dict[str, Any]] = None) -> DataLoader:
        """Shuffled, SpecAugment-ed batches. `sampler_state` (from `dl.sampler.state_dict()`) resumes mid-epoch."""
        dl = self._loader(cuts, train=True)
        if sampler_state is not None:
            dl.sampler.load_state_dict(sampler_state)
        return dl

    def count_train_batches(self, cuts: CutSet, epoch: int = 1) -> int:
        """Batches in one training epoch on this rank (cut metadata only, no features read)."""
        sampler = self._sampler(cuts, train=True)
        sampler.set_epoch(epoch)
        return sum(1 for _ in sampler)

    def valid_dataloader(self, cuts: CutSet) -> DataLoader:
        return self._loader(cuts, train=False)

    def test_dataloader(self, cuts: CutSet) -> DataLoader:
        return self._loader(cuts, train=False)


def spec_augment(c: DataConfig) -> "UnpaddedSpecAugment":
    """The training loader's SpecAugment as `c` sets it (prefixasr.bin.augment_cer measures what it does)."""
    return UnpaddedSpecAugment(SpecAugment(
        time_warp_factor=c.time_warp_factor, num_feature_masks=c.num_feature_masks,
        features_mask_size=c.features_mask_size, num_frame_masks=c.num_frame_masks,
        frames_mask_size=c.frames_mask_size, max_frames_mask_fraction=c.max_frames_mask_fraction))


class UnpaddedSpecAugment:
    """lhotse's SpecAugment on each utterance's own frames. lhotse pads a batch with log(1e-10) and fills its masks
    with the mean of the padded row: far below a Whisper log-mel's range (-0.8..1.5), so the masks were loud
    artefacts whose level depended on the batch-mates (the encoder CTC's training CER 63% instead of 4%,
    docs/convergence.md part 31). Here the padding is left alone and each mask takes its utterance's mean."""

    def __init__(self, spec: SpecAugment) -> None:
        self.spec = spec

    def __call__(self, features: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = features.clone()
        padding = (features == LOG_EPSILON).all(-1)  # (B, T): frames that are lhotse's padding
        for i in range(features.size(0)):
            real = (~padding[i]).nonzero()
            n = int(real[-1]) + 1 if len(real) else 0
            if n > 0:
                out[i, :n] = self.spec(features[i: i + 1, :n])[0]
        return out


def unpack_batch(batch: Dict[str, Any], normalize: bool = True) -> AsrBatch:
    """lhotse K2SpeechRecognitionDataset batch → AsrBatch (one row per cut, in the batch's order).

    A cut with several supervisions (a whole long recording) gets their texts joined in time order.
    """
    sups = batch["supervisions"]
    if "cut" not in sups:
        raise ValueError("batch has no cuts: build the dataset with return_cuts=True (AsrDataModule does)")
    features = batch["inputs"]
    rows: Dict[int, list] = {}
    for seq_idx, cut in zip(sups["sequence_idx"].tolist(), sups["cut"]):
        rows.setdefault(int(seq_idx), [cut])
    if sorted(rows) != list(range(features.size(0))):
        raise ValueError(f"batch of {features.size(0)} feature rows has supervisions for rows {sorted(rows)}")
    texts, langs, ids, lens = [], [], [], []
    for i in range(features.size(0)):
        cut = rows[i][0]
        segs = sorted(cut.supervisions, key=lambda s: s.start)
        lang = segs[0].language or ""
        text = " ".join(s.text or "" for s in segs)
        texts.append(normalize_text(text, lang) if normalize else text)
        langs.append(lang)
        ids.append(cut.id)
        n = cut.num_frames if cut.has_features else compute_num_frames(cut.duration, FRAME_SHIFT, cut.sampling_rate)
        lens.append(min(int(n), features.size(1)))
    return AsrBatch(
        features=features.float(),
        feature_lens=torch.tensor(lens, dtype=torch.long),
        texts=texts,
        languages=langs,
        cut_ids=ids,
    )
