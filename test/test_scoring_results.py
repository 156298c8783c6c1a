"""RESULTS.md collection: per-language tables, averages, relative change, chart."""
import re

from prefixasr.bin import score, show_results


def _decode_dir(root, system, hyps):
    d = root / system / "decode_test_llm_greedy"
    d.mkdir(parents=True)
    refs = {"u1": "a b c d", "u2": "क ख ग घ"}
    langs = {"u1": "hi", "u2": "bn"}
    for name, m in (("text", hyps), ("ref", refs), ("utt2lang", langs)):
        (d / name).write_text("".join(f"{k} {v}\n" for k, v in m.items()), encoding="utf-8")
    assert score.main([str(d), "--no-sclite", "--log-level", "WARNING"]) == 0


def test_show_results(tmp_path):
    exp = tmp_path / "exp"
    _decode_dir(exp, "base", {"u1": "a b x y", "u2": "क ख ग घ"})  # hi 50, bn 0 -> avg 25
    _decode_dir(exp, "new", {"u1": "a b c y", "u2": "क ख ग घ"})  # hi 25, bn 0 -> avg 12.5
    out = tmp_path / "RESULTS.md"
    assert show_results.main(["--exp-root", str(exp), "--output", str(out), "--baseline", "base"]) == 0
    md = out.read_text(encoding="utf-8")
    assert "## Environments" in md and "Git hash" in md and "torch version" in md
    assert "|system|bn|hi|avg|all|rel. vs base|" in md
    assert re.search(r"\|base/llm_greedy\|0\.00\|50\.00\|25\.00\|25\.00\|\+0\.0%\|0\.00\|0\.00\|-\|2\|", md)
    assert re.search(r"\|new/llm_greedy\|0\.00\|25\.00\|12\.50\|12\.50\|-50\.0%\|", md)
    png = tmp_path / "RESULTS_test_wer.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert show_results.main(["--exp-root", str(exp), "--output", str(out), "--baseline", "nope"]) == 1
