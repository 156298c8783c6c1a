"""utils/encoder_features.py: what asr.sh's feature stage makes for an encoder block, read with its includes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def features(block: Path, root: Path) -> list[str]:
    out = subprocess.run([sys.executable, str(REPO / "utils/encoder_features.py"), str(block), str(root)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_a_block_that_includes_another_reads_the_included_encoder(tmp_path: Path) -> None:
    (tmp_path / "models/frozen").mkdir(parents=True)
    (tmp_path / "models/frozen/config.json").write_text("{}", encoding="utf-8")
    base = tmp_path / "adapter.yaml"
    base.write_text("model:\n  encoder: {type: adapter, path: models/frozen, num_layers: 2, "
                    "adapter: {input: frozen-out, stride: 2}}\n", encoding="utf-8")
    deeper = tmp_path / "deeper.yaml"
    deeper.write_text("include: [adapter.yaml]\nmodel:\n  encoder: {num_layers: 4}\n", encoding="utf-8")
    expected = ["encoder", "frozen-out", str(tmp_path / "models/frozen")]
    assert features(base, tmp_path) == expected
    assert features(deeper, tmp_path) == expected, "not read as the Conformer's fbank"
    own = tmp_path / "own.yaml"
    own.write_text("include: [adapter.yaml]\nmodel:\n  encoder: {type: conformer}\n", encoding="utf-8")
    assert features(own, tmp_path) == ["fbank", "fbank", "-"], "the including file's keys win"


def test_the_config_reader_starts_without_torch() -> None:
    """asr.sh calls this script for every run: it reads configs with prefixasr.train.config, which (and
    prefixasr.model, whose config schema it checks against) must not import torch."""
    code = "import sys, prefixasr.train.config; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
