"""prefixasr.bin.subset_cuts: a low-resource language keeps its share of cuts, the others all of theirs."""
from lhotse import CutSet, SupervisionSegment, load_manifest_lazy
from lhotse.testing.dummies import dummy_cut

from prefixasr.bin import subset_cuts


def _cuts(tmp_path):
    cuts = [dummy_cut(i, supervisions=[SupervisionSegment(f"s{i}", f"r{i}", 0, 1, text="x",
                                                          language="hi" if i < 20 else "ta")]) for i in range(30)]
    path = tmp_path / "train_cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def test_one_language_keeps_its_share_deterministically(tmp_path):
    src = _cuts(tmp_path)
    kept = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl.gz"
        assert subset_cuts.main(["--cuts", str(src), "--language", "hi", "--fraction", "0.1", "--output", str(out)]) == 0
        kept.append([c.id for c in load_manifest_lazy(out)])
    langs = [c.supervisions[0].language for c in load_manifest_lazy(tmp_path / "a.jsonl.gz")]
    assert langs.count("hi") == 2 and langs.count("ta") == 10
    assert kept[0] == kept[1], "same seed, same subset"


def test_bad_options_are_errors(tmp_path):
    src = _cuts(tmp_path)
    out = str(tmp_path / "o.jsonl.gz")
    assert subset_cuts.main(["--cuts", str(src), "--language", "hi", "--fraction", "0", "--output", out]) == 1
    assert subset_cuts.main(["--cuts", str(src), "--language", "bn", "--fraction", "0.5", "--output", out]) == 1
