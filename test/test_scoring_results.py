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


def test_show_results_keeps_hand_written_sections(tmp_path):
    exp = tmp_path / "exp"
    _decode_dir(exp, "base", {"u1": "a b x y", "u2": "क ख ग घ"})
    out = tmp_path / "RESULTS.md"
    notes = "## In short (today)\n- base reads hi at 50% WER\n\n- a second point"
    out.write_text(f"# RESULTS\n\nMade by an old command.\n\n{notes}\n\n## test: WER (%)\nold table\n", encoding="utf-8")
    argv = ["--exp-root", str(exp), "--output", str(out), "--no-charts", "--preamble", "Made by a new command."]
    assert show_results.main(argv + ["--keep", "In short"]) == 0
    md = out.read_text(encoding="utf-8")
    assert md.startswith(f"# RESULTS\n\nMade by a new command.\n\n{notes}\n\n## Environments")
    assert "old table" not in md and "old command" not in md
    assert show_results.main(argv) == 0  # without --keep the file is made anew
    assert "In short" not in out.read_text(encoding="utf-8")


def _scores_json(root, system, per_lang, ins=True):
    """A hand-made scores.json: per_lang = {lang: (wer %, cer %, inserted words, reference words)}."""
    import json

    d = root / system / "decode_test_llm_greedy"
    d.mkdir(parents=True)

    def counts(rate, n_ins, ref_len):
        return {"rate": rate, "ref_len": ref_len, **({"ins": n_ins} if ins else {})}

    tot_ins = sum(v[2] for v in per_lang.values())
    tot_ref = sum(v[3] for v in per_lang.values())
    js = {
        "set": "test", "suffix": "llm_greedy",
        "wer": {**counts(99.0, tot_ins, tot_ref), "num_utts": 7}, "cer": counts(98.0, 0, 1),
        "per_lang": {k: {"wer": counts(w, i, n), "cer": counts(c, 0, 1)} for k, (w, c, i, n) in per_lang.items()},
        "hallucination": {"long_hyp_pct": 0.0, "loop_pct": 0.0},
    }
    (d / "scores.json").write_text(json.dumps(js), encoding="utf-8")


def test_show_results_two_baselines_and_insertions(tmp_path, capsys):
    exp = tmp_path / "exp"
    _scores_json(exp, "ft_ce", {"hi": (20.0, 10.0, 1, 10), "bn": (10.0, 6.0, 0, 20)})  # avg WER 15, CER 8
    _scores_json(exp, "frozen_shared", {"hi": (30.0, 12.0, 3, 10), "bn": (30.0, 12.0, 2, 20)})  # 30, 12
    _scores_json(exp, "new", {"hi": (12.0, 6.0, 0, 10), "bn": (6.0, 2.0, 1, 20)})  # 9, 4
    _scores_json(exp, "old", {"hi": (15.0, 8.0, 0, 10), "bn": (15.0, 8.0, 0, 20)}, ins=False)  # no ins keys
    out = tmp_path / "RESULTS.md"
    argv = ["--exp-root", str(exp), "--output", str(out), "--no-charts", "--log-level", "WARNING"]
    assert show_results.main(argv + ["--baseline", "ft_ce", "frozen_shared"]) == 0
    md = out.read_text(encoding="utf-8")
    assert "## Environments" in md
    assert "Relative change of the average WER against `ft_ce`, `frozen_shared` (negative is better)." in md
    assert "|system|bn|hi|avg|all|rel. vs ft_ce|rel. vs frozen_shared|long hyp %|loops %|LID acc %|#utts|" in md
    assert "|system|bn|hi|avg|all|rel. vs ft_ce|rel. vs frozen_shared|\n" in md  # the CER table
    wer, cer, ins = (md.split(f"## test: {t}")[1].split("## ")[0] for t in ("WER", "CER", "word insertion"))
    # WER: new 9 vs 15 -> -40 %, vs 30 -> -70 %; ft_ce vs frozen_shared 15 vs 30 -> -50 %
    assert "|new/llm_greedy|6.00|12.00|9.00|99.00|-40.0%|-70.0%|0.00|0.00|-|7|" in wer
    assert "|ft_ce/llm_greedy|10.00|20.00|15.00|99.00|+0.0%|-50.0%|" in wer
    assert "|frozen_shared/llm_greedy|30.00|30.00|30.00|99.00|+100.0%|+0.0%|" in wer
    # CER: new 4 vs 8 -> -50 %, vs 12 -> -66.7 %; ft_ce 8 vs 12 -> -33.3 %
    assert "|new/llm_greedy|2.00|6.00|4.00|98.00|-50.0%|-66.7%|\n" in cer
    assert "|ft_ce/llm_greedy|6.00|10.00|8.00|98.00|+0.0%|-33.3%|\n" in cer
    # insertions / reference words: per language, macro average, pooled
    assert "|system|bn|hi|avg|all|split|joined|\n" in ins
    assert "|frozen_shared/llm_greedy|10.00|30.00|20.00|16.67|-|-|\n" in ins
    assert "|new/llm_greedy|5.00|0.00|2.50|3.33|-|-|\n" in ins
    assert "|ft_ce/llm_greedy|0.00|10.00|5.00|3.33|-|-|\n" in ins  # no boundary counts in hand-made scores
    assert "|old/llm_greedy|-|-|-|-|-|-|\n" in ins  # scores.json from before the counts were read
    capsys.readouterr()
    assert show_results.main(argv + ["--baseline", "ft_ce", "nope"]) == 1
    err = capsys.readouterr().err
    assert "'nope'" in err and "ft_ce/llm_greedy" in err and "frozen_shared/llm_greedy" in err


def test_show_results_insertions_from_score(tmp_path):
    exp = tmp_path / "exp"
    _decode_dir(exp, "sys", {"u1": "a b c d e f", "u2": "क ख ग घ x"})  # hi 2/4 inserted, bn 1/4
    out = tmp_path / "RESULTS.md"
    assert show_results.main(["--exp-root", str(exp), "--output", str(out), "--no-charts"]) == 0
    md = out.read_text(encoding="utf-8")
    # u1's two words and u2's one are whole inserted words, not split ones
    assert "|sys/llm_greedy|25.00|50.00|37.50|37.50|0.00|0.00|\n" in md.split("## test: word insertion rate (%)")[1]
    assert "rel. vs" in md.split("## test: WER")[1].split("## ")[0]  # no baseline: the empty column stays
