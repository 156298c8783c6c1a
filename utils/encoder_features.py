#!/usr/bin/env python3
"""Print what the feature stage makes for an encoder block (asr.sh --encoder_config): "<kind> <name> <path>".

  kind fbank        Kaldi fbank (our Conformer)                   name fbank            path -
  kind whisper_mel  Whisper's own log-mel (a fine-tuned Whisper)  name whisper_mel      path the Whisper directory
  kind encoder      a frozen encoder's cached outputs (adapter)   name <adapter.input>  path the frozen encoder

<name> is the feature directory under the data dir. model.encoder.path is relative to the repository root (the
second argument) unless absolute; a missing directory is an error naming how to install it. Waveform encoders
(wav2vec2-style) read audio on the fly, which the recipe's feature stage does not make: an error says so.
Reads YAML (prefixasr.train.config.read_yaml, which needs no torch) and the encoder's config.json only, so it
starts in a fraction of a second.

Usage:
  utils/encoder_features.py ../../conf/encoder/whisper_base.yaml /path/to/prefixasr
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Tuple

from prefixasr.train.config import read_yaml


def encoder_features(config: Path, root: Path) -> Tuple[str, str, str]:
    try:
        raw = read_yaml(config)  # with the block's includes, as training reads it
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"encoder_features.py: {err}")
    enc = (raw.get("model") or {}).get("encoder") or {}
    kind = enc.get("type", "conformer")
    if kind == "conformer":
        return "fbank", "fbank", "-"
    if not enc.get("path"):
        raise SystemExit(f"{config}: model.encoder.type {kind} needs model.encoder.path")
    path = Path(enc["path"]) if Path(enc["path"]).is_absolute() else root / enc["path"]
    if not (path / "config.json").is_file():
        raise SystemExit(f"{config}: the encoder {path} is not installed (make -C tools whisper-base, or the like)")
    if kind == "adapter":
        name = (enc.get("adapter") or {}).get("input") or path.name
        return "encoder", name, str(path)
    if kind != "hf":
        raise SystemExit(f"{config}: unknown model.encoder.type {kind!r} (conformer, hf, adapter)")
    hf = json.loads((path / "config.json").read_text(encoding="utf-8"))
    if "whisper" in str(hf.get("model_type", "")) or "num_mel_bins" in hf or (path / "model.bin").is_file():
        return "whisper_mel", "whisper_mel", str(path)
    raise SystemExit(f"{config}: {path} reads the waveform (model_type {hf.get('model_type')!r}); the recipe's "
                     "feature stage makes stored features only: train it with data.loader.on_the_fly_feats")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0)
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(*encoder_features(Path(sys.argv[1]), Path(sys.argv[2])))
