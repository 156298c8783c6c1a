"""The recipe must learn, not only run: a toy one-language corpus goes through egs/bengali/run.sh stages
0-6 (--data kaldi: import, validation, cuts, fbank, tokenizers, a 5-step LM, encoder pre-training) and
the pre-trained encoder's dev CER, logged per epoch by the trainer, must fall to 10% or less.

The toy language: six Bengali letters, each spoken as its own pure tone for 80 ms (silence between
words); dev sentences are other random words than the training ones. Any encoder that learns at all
reads it; one that sits on the blank plateau (as the word-piece systems did) stays at 100%.
"""
from __future__ import annotations

import json
import math
import os
import random
import struct
import subprocess
import wave
from pathlib import Path

from recipe_fixtures import failed_run

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "bengali"
LETTERS = "কখগঘচছ"
RATE = 16000


def _tone_wav(path: Path, text: str) -> None:
    """Each letter an 80 ms sine at its own frequency; 120 ms of silence around words."""
    freq = {c: 300.0 * (1.25 ** k) for k, c in enumerate(LETTERS)}
    samples: list[int] = []
    silence = [0] * int(0.12 * RATE)
    for word in text.split():
        samples += silence
        for c in word:
            samples += [int(8000 * math.sin(2 * math.pi * freq[c] * n / RATE)) for n in range(int(0.08 * RATE))]
    samples += silence
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))


def _toy_corpus(root: Path, sizes: dict) -> None:
    rng = random.Random(0)
    seen: set = set()
    for split, n in sizes.items():
        d = root / split
        d.mkdir(parents=True)
        utts = []
        while len(utts) < n:
            text = " ".join("".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 4)))
                            for _ in range(rng.randint(2, 4)))
            if text in seen:
                continue
            seen.add(text)
            utts.append((f"spk_{split}-{len(utts):03d}", text))
        for u, t in utts:
            _tone_wav(d / f"{u}.wav", t)
        (d / "wav.scp").write_text("".join(f"{u} {d / u}.wav\n" for u, _ in utts))
        (d / "text").write_text("".join(f"{u} {t}\n" for u, t in utts), encoding="utf-8")
        (d / "utt2spk").write_text("".join(f"{u} spk_{split}\n" for u, _ in utts))
        (d / "spk2utt").write_text(f"spk_{split} " + " ".join(u for u, _ in utts) + "\n")


def test_pretrained_encoder_learns_a_toy_language(tmp_path):
    _toy_corpus(tmp_path / "corpus", {"train": 120, "dev": 20, "test": 10})
    env = dict(os.environ, PATH=f"{ROOT / 'tools' / 'venv' / 'bin'}:{os.environ['PATH']}",
               KALDI_DATA=str(tmp_path / "corpus"))
    cmd = ["bash", str(RECIPE / "run.sh"), "--data", "kaldi", "--data_dir", str(tmp_path / "data"),
           "--exp_dir", str(tmp_path / "exp"), "--nj", "1", "--stage", "0", "--stop_stage", "6",
           "--min_seg_duration", "0.3", "--nbpe", "30",
           "--lm_args", "train.num_steps=5 train.valid_interval=5 train.batch_size=4 train.block_size=16",
           "--pretrain_args", "train.num_epochs=12 train.warmup_steps=30 data.loader.max_duration=10"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, failed_run("run.sh", out)
    rows = json.loads((tmp_path / "exp" / "pretrain" / "history.json").read_text())
    cer = [r["cer_ctc_greedy"] for r in rows]
    assert cer[0] > 50.0, f"an untrained encoder cannot read the toy language: {cer}"
    assert min(cer[-3:]) <= 10.0, f"stage 6 did not learn the toy language: dev CER by epoch {cer}"
    assert rows[-1]["minutes"] < 2.0, f"the toy must learn within a couple of minutes: {rows[-1]['minutes']}"
