"""A tiny learnable on-disk corpus for trainer tests: lhotse cuts with stored features, a
sentencepiece model and lang2id.json. Each letter is a fixed 80-dim pattern held for a few frames,
so a small model can actually learn to read the "speech"."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict

import numpy as np

LETTERS = "abcdefghij"
LANGS = ("hi", "ta", "te")
FRAMES_PER_LETTER = 6


def make_corpus(root: Path, n_utts: int = 24, seed: int = 0, text: str | None = None) -> Dict[str, str]:
    """`text`: every utterance says it (same length, same tokens), each with its own noise."""
    from lhotse import CutSet, Features, LilcomChunkyWriter, MonoCut, SupervisionSegment

    from prefixasr.data.lang import LanguageMap
    from prefixasr.data.tokenizer import train_sentencepiece

    rng = np.random.default_rng(seed)
    patterns = {c: rng.normal(0, 1, 80).astype(np.float32) for c in LETTERS + " "}
    root.mkdir(parents=True, exist_ok=True)
    texts, cuts = [], []
    with LilcomChunkyWriter(root / "feats") as writer:
        for i in range(n_utts):
            words = ["".join(rng.choice(list(LETTERS), size=rng.integers(2, 4))) for _ in range(rng.integers(2, 4))]
            said = text or " ".join(words)
            frames = np.concatenate([np.repeat(patterns[c][None], FRAMES_PER_LETTER, 0) for c in said])
            frames = frames + rng.normal(0, 0.1, frames.shape).astype(np.float32)
            cid = f"utt{i:03d}"
            key = writer.write(cid, frames)
            n = frames.shape[0]
            feats = Features(type="fbank", num_frames=n, num_features=80, frame_shift=0.01, sampling_rate=16000,
                             start=0.0, duration=n * 0.01, storage_type=writer.name,
                             storage_path=str(writer.storage_path), storage_key=key, channels=0,
                             recording_id=cid)
            lang = LANGS[i % len(LANGS)]
            sup = SupervisionSegment(id=cid, recording_id=cid, start=0.0, duration=n * 0.01, text=said, language=lang)
            cuts.append(MonoCut(id=cid, start=0.0, duration=n * 0.01, channel=0, features=feats, supervisions=[sup]))
            texts.append(said)
    CutSet.from_cuts(cuts).to_file(root / "cuts.jsonl.gz")
    (root / "text.txt").write_text("\n".join(texts * 4) + "\n", encoding="utf-8")
    spm = train_sentencepiece([root / "text.txt"], root / "spm", vocab_size=24, model_type="unigram")
    chars = train_sentencepiece([root / "text.txt"], root / "chars", vocab_size=100, model_type="char")
    LanguageMap.from_languages(LANGS).save(root / "lang2id.json")
    return {"cuts": str(root / "cuts.jsonl.gz"), "tokenizer": str(spm), "lang_map": str(root / "lang2id.json"),
            "char_tokenizer": str(chars)}


TINY_SYSTEM: Dict[str, Any] = {
    "data": {"loader": {"max_duration": 6.0, "num_workers": 0, "spec_augment": False, "num_buckets": 2,
                        "shuffle": True, "drop_last": False}},
    "model": {
        "encoder": {"d_model": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64, "kernel_size": 5,
                    "dropout": 0.1, "subsampling_channels": 8},
        "projector": {"stack": 1, "hidden_dim": 32},
        "llm": {"type": "scratch", "arch": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                            "num_attention_heads": 2, "num_key_value_heads": 2}},
        "prompt": {"type": "langid", "length": 2},
        "loss": {"ce_weight": 1.0, "rnnt_weight": 0.5},
        "rnnt": {"decoder_dim": 16, "joiner_dim": 16, "warm_step": 20},
    },
    "train": {"num_epochs": 2, "lr": 3e-3, "warmup_steps": 5, "log_interval": 2, "num_threads": 1,
              "scan_pessimistic_batches": True},
}


def system_config(corpus: Dict[str, str], **train: Any) -> Dict[str, Any]:
    cfg = copy.deepcopy(TINY_SYSTEM)
    cfg["data"].update(train_cuts=corpus["cuts"], valid_cuts=corpus["cuts"], tokenizer=corpus["tokenizer"],
                       lang_map=corpus["lang_map"], char_tokenizer=corpus["char_tokenizer"])
    cfg["train"].update(train)
    return cfg


def memorise_config(corpus: Dict[str, str], **train: Any) -> Dict[str, Any]:
    """A tiny system that learns `corpus` (make_corpus with 6 utterances) by heart in 150 epochs."""
    cfg = system_config(corpus, num_epochs=150, lr=5e-3, warmup_steps=10, schedule="constant", log_interval=50,
                        scan_pessimistic_batches=False, **train)
    cfg["model"]["encoder"].update(dropout=0.0, d_model=48, ffn_dim=96)
    cfg["model"]["rnnt"]["warm_step"] = 50
    cfg["model"]["loss"]["rnnt_weight"] = 1.0
    cfg["data"]["valid_cuts"] = None
    cfg["data"]["loader"]["max_duration"] = 2.0
    return cfg


def memorise_and_decode(root: Path, decode_device: str = "cpu", **train: Any) -> Dict[str, Any]:
    """Train memorise_config (with `train` overrides) on a 6-utterance corpus under `root`, then decode that corpus
    greedily with the LLM and the RNN-T on `decode_device`. Returns the references (`texts`), the hypotheses (`llm`,
    `rnnt`), the LLM's cross-entropy per token on them (`ce_per_token`) and the device the model ran on (`device`)."""
    import torch
    import yaml

    from prefixasr.bin import train as train_cli
    from prefixasr.data.datamodule import AsrDataModule, unpack_batch
    from prefixasr.decode.llm_search import llm_greedy
    from prefixasr.decode.rnnt_search import rnnt_greedy
    from prefixasr.model import load_model
    from prefixasr.train.data import load_cuts

    corpus = make_corpus(root / "corpus", n_utts=6, seed=3)
    (root / "c.yaml").write_text(yaml.safe_dump(memorise_config(corpus, **train)), encoding="utf-8")
    assert train_cli.main(["--config", str(root / "c.yaml"), "--exp-dir", str(root / "exp")]) == 0

    loaded = load_model(root / "exp", device=decode_device)
    model, tok = loaded.model, loaded.tokenizer
    dm = AsrDataModule(max_duration=100, num_workers=0, spec_augment=False, world_size=1, rank=0)
    batch = unpack_batch(next(iter(dm.test_dataloader(load_cuts(corpus["cuts"], "cuts")))))
    feats, lens = batch.features.to(decode_device), batch.feature_lens.to(decode_device)
    lang_ids = torch.tensor([loaded.lang_map.index(lang) for lang in batch.languages], device=decode_device)
    with torch.no_grad():
        _, stats = model(feats, lens, tok.encode_batch(batch.texts), lang_ids)
        embeds, mask, _ = model.build_llm_prefix(*model.encode_for_llm(feats, lens), lang_ids)
        prefix, plens = model.encode(feats, lens)
        llm_hyps = [tok.decode(h) for h in llm_greedy(model, embeds, mask, [40] * len(batch))]
        rnnt_hyps = [tok.decode(h) for h, _ in rnnt_greedy(model.transducer, prefix, plens, max_sym_per_frame=3)]
    return {"texts": batch.texts, "llm": llm_hyps, "rnnt": rnnt_hyps, "ce_per_token": stats["ce"] / stats["tokens"],
            "device": next(model.parameters()).device.type}


def gradients_close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Two gradients equal up to summation-order noise."""
    # Measured against the tensor's own size, not element by element: a gradient whose true value is exactly zero
    # (the key part of a qkv bias: a constant added to every key leaves each softmax unchanged) is summation-order
    # noise, small against its tensor's norm but of a size that differs from CPU to CPU; an element-wise relative
    # test reads that noise as a difference. Broken accumulation is off by a factor (x2, or a batch missing).
    return float((a - b).norm()) <= 1e-4 * float(b.norm()) + 1e-8
