"""AsrDataModule + unpack_batch on a tiny on-disk corpus (precomputed and on-the-fly features)."""
import random

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from prefixasr.data.batch import AsrBatch
from prefixasr.data.datamodule import AsrDataModule, unpack_batch

torch.set_num_threads(1)


def _corpus(tmp_path, n=6, multi_sup=False):
    rng = np.random.default_rng(0)
    recs, sups = [], []
    for i in range(n):
        dur = 1.0 + 0.25 * i
        path = tmp_path / f"r{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * dur))).astype("float32"), 16000)
        rec = Recording.from_file(path, recording_id=f"r{i}")
        recs.append(rec)
        lang = "hi" if i % 2 else "ta"
        if multi_sup:
            sups.append(SupervisionSegment(f"r{i}-b", f"r{i}", 0.5, 0.4, text="दूसरा।", language=lang))
            sups.append(SupervisionSegment(f"r{i}-a", f"r{i}", 0.0, 0.4, text="पहला,", language=lang))
        else:
            sups.append(SupervisionSegment(f"r{i}-s", f"r{i}", 0.0, rec.duration, text=f"वाक्य {i}।", language=lang))
    cuts = CutSet.from_manifests(RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))
    return cuts if multi_sup else cuts.trim_to_supervisions(keep_overlapping=False).to_eager()


@pytest.mark.parametrize("precomputed", [True, False])
def test_train_and_valid_batches(tmp_path, precomputed):
    cuts = _corpus(tmp_path)
    if precomputed:
        cuts = cuts.compute_and_store_features(Fbank(FbankConfig(num_mel_bins=80)), tmp_path / "feats",
                                               num_jobs=1, storage_type=LilcomChunkyWriter)
    dm = AsrDataModule(max_duration=5.0, num_workers=0, on_the_fly_feats=not precomputed, num_buckets=2,
                       drop_last=False, world_size=1, rank=0)
    seen = {}
    for batch in dm.train_dataloader(cuts):
        b = unpack_batch(batch)
        assert isinstance(b, AsrBatch)
        assert b.features.shape[0] == len(b) == b.feature_lens.shape[0]
        assert b.features.shape[2] == 80 and b.feature_lens.dtype == torch.long
        assert int(b.feature_lens.max()) == b.features.shape[1]
        assert sum(1.0 + 0.25 * int(cid[1]) for cid in b.cut_ids) <= 5.0 + 1e-6
        for cid, text, lang, n in zip(b.cut_ids, b.texts, b.languages, b.feature_lens.tolist()):
            seen[cid] = (text, lang, n)
    assert len(seen) == 6
    assert seen["r3-s"][0] == "वाक्य 3" and seen["r3-s"][1] == "hi" and seen["r2-s"][1] == "ta"
    assert seen["r0-s"][2] == 100 and seen["r4-s"][2] == 200  # 1.0 s and 2.0 s at 10 ms frames
    valid_ids = [cid for batch in dm.valid_dataloader(cuts) for cid in unpack_batch(batch).cut_ids]
    assert sorted(valid_ids) == sorted(seen)


def test_ddp_ranks_partition_the_data(tmp_path):
    cuts = _corpus(tmp_path, n=8)
    ids = []
    for rank in range(2):
        dm = AsrDataModule(max_duration=3.0, num_workers=0, on_the_fly_feats=True, world_size=2, rank=rank,
                           drop_last=False, num_buckets=2)
        ids.append({c for b in dm.valid_dataloader(cuts) for c in unpack_batch(b).cut_ids})
    assert ids[0] and ids[1] and not ids[0] & ids[1]


def test_long_cut_joins_supervisions_in_time_order(tmp_path):
    cuts = _corpus(tmp_path, n=2, multi_sup=True)
    dm = AsrDataModule(max_duration=100.0, num_workers=0, on_the_fly_feats=True, world_size=1, rank=0)
    b = unpack_batch(next(iter(dm.test_dataloader(cuts))))
    assert len(b) == 2 and b.texts == ["पहला दूसरा", "पहला दूसरा"]


def test_unknown_option_rejected():
    with pytest.raises(ValueError, match="max_durations"):
        AsrDataModule.from_dict({"max_durations": 10})
    assert AsrDataModule.from_dict({"max_duration": 10}).config.max_duration == 10


def test_spec_augment_masks_each_utterance_with_its_own_mean_and_leaves_the_padding():
    from lhotse.utils import LOG_EPSILON

    from prefixasr.data.datamodule import DataConfig, spec_augment

    # a Whisper-like log-mel range, rows of 120 and 300 frames padded as lhotse pads them
    feats = torch.full((2, 300, 80), LOG_EPSILON)
    torch.manual_seed(0)
    feats[0, :120] = torch.rand(120, 80) * 2 - 0.5
    feats[1] = torch.rand(300, 80) * 2 - 0.5
    augment = spec_augment(DataConfig(time_warp_factor=0, num_feature_masks=2, features_mask_size=10,
                                      num_frame_masks=2, frames_mask_size=10, max_frames_mask_fraction=0.1))
    augmented = 0
    for seed in range(5):
        random.seed(seed)  # (lhotse augments an utterance with probability 0.9, drawn from `random`)
        torch.manual_seed(seed)
        out = augment(feats)
        assert torch.equal(out[0, 120:], feats[0, 120:])  # the padding as it was
        for i, n in ((0, 120), (1, 300)):
            changed = out[i, :n] != feats[i, :n]
            augmented += bool(changed.any())
            # masked cells hold the utterance's own mean, in its range, whatever its batch-mates' lengths
            assert torch.allclose(out[i, :n][changed], feats[i, :n].mean().expand(int(changed.sum())))
    assert augmented >= 5
