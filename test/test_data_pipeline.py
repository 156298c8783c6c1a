"""Segmentation → fbank → tokenizer tools on a tiny corpus, and --help of every data tool."""
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from prefixasr.bin import compute_fbank, make_cuts, train_tokenizer
from prefixasr.data.manifests import save_manifests
from prefixasr.data.segment import filter_cuts, segment_cuts
from prefixasr.data.tokenizer import Tokenizer

TOOLS = ["prepare_synthetic", "import_kaldi", "import_captions", "import_fleurs", "import_commonvoice",
         "validate_manifests", "make_cuts", "compute_fbank", "train_tokenizer"]


def _manifests(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(16000 * 30).astype("float32"), 16000)
    rec = Recording.from_file(path, recording_id="long")
    words = "यह एक लंबा वाक्य है जो बहुत सारे शब्दों से बना है"
    sups = [
        SupervisionSegment("s0", "long", 0.5, 3.0, text="यह एक वाक्य है।", language="hi"),
        SupervisionSegment("s1", "long", 4.0, 0.4, text="छोटा", language="hi"),  # too short
        SupervisionSegment("s2", "long", 5.0, 1.2, text=" ".join([words] * 3), language="hi"),  # the trainer's to drop
        SupervisionSegment("s3", "long", 8.0, 21.0, text="लंबा", language="hi"),  # too long
    ]
    save_manifests(RecordingSet.from_recordings([rec]), SupervisionSet.from_segments(sups), tmp_path / "m", "test")
    return tmp_path / "m"


def test_cuts_fbank_tokenizer(tmp_path, capsys):
    m = _manifests(tmp_path)
    assert train_tokenizer.main(["--manifest-dir", str(m), "--splits", "test", "--vocab-size", "60",
                                 "--output", str(tmp_path / "lang" / "spm")]) == 0
    tok = Tokenizer.load(tmp_path / "lang" / "spm.model")
    assert tok.pad_id == 0 and tok.id_to_piece(0) == "<blk>"
    assert make_cuts.main(["--manifest-dir", str(m), "--split", "test", "--output-dir", str(tmp_path / "cuts"),
                           "--long"]) == 0
    err = capsys.readouterr().err
    assert "dropped cut s1: duration 0.40s < 1.0s" in err and "dropped cut s3: duration 21.00s > 20.0s" in err
    cuts = CutSet.from_file(tmp_path / "cuts" / "test_cuts.jsonl.gz").to_eager()
    assert [c.id for c in cuts] == ["s0", "s2"] and cuts[0].duration == 3.0
    long = CutSet.from_file(tmp_path / "cuts" / "test_long_cuts.jsonl.gz").to_eager()
    assert len(long) == 1 and len(long[0].supervisions) == 4 and long[0].duration == 30.0
    out = tmp_path / "fbank" / "test_cuts.jsonl.gz"
    args = ["--cuts", str(tmp_path / "cuts" / "test_cuts.jsonl.gz"), "--output-cuts", str(out), "--num-jobs", "1"]
    assert compute_fbank.main(args + ["--augment", "speed", "noise", "reverb"]) == 0
    feats = CutSet.from_file(out).to_eager()
    assert len(feats) == 10  # 2 cuts x (original + 0.9x + 1.1x + noise + reverb)
    s0 = {c.id: c.load_features() for c in feats if c.id.startswith("s0")}
    assert sorted(s0) == ["s0", "s0_noise", "s0_rvb", "s0_sp0.9", "s0_sp1.1"]
    assert all(f.shape[1] == 80 for f in s0.values())
    assert s0["s0_sp1.1"].shape[0] < 300 == s0["s0"].shape[0] == s0["s0_noise"].shape[0] == s0["s0_rvb"].shape[0]
    assert s0["s0_sp0.9"].shape[0] > 300
    for copy in ("s0_noise", "s0_rvb"):  # other sounds, the same words
        assert abs(s0[copy] - s0["s0"]).mean() > 0.01  # a copy equal to the clean cut differs by 0
        assert [s.text for s in feats[copy].supervisions] == [s.text for s in feats["s0"].supervisions]
    assert compute_fbank.main(args) == 0 and "already computed" in capsys.readouterr().err  # resumable


def test_filter_without_tokenizer_counts(tmp_path):
    m = _manifests(tmp_path)
    from prefixasr.data.manifests import load_manifests
    kept, reasons = filter_cuts(segment_cuts(*load_manifests(m, "test")), 1.0, 20.0)
    assert len(kept) == 2 and reasons == {"too-short": 1, "too-long": 1}


@pytest.mark.parametrize("tool", TOOLS)
def test_help_explains_every_option(tool):
    proc = subprocess.run([sys.executable, "-m", f"prefixasr.bin.{tool}", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "Usage:" in proc.stdout
    mod = __import__(f"prefixasr.bin.{tool}", fromlist=["get_parser"])
    for action in mod.get_parser()._actions:
        assert action.help, f"{tool}: option {action.option_strings} has no help"
