"""The score tool on a decode dir: every output file, its format, normalisation, bad input."""
import json
import re

from prefixasr.bin import score
from prefixasr.scoring import sclite


def make_dir(d, hyp_lines, ref_lines, lang_lines):
    d.mkdir(parents=True)
    (d / "text").write_text("".join(l + "\n" for l in hyp_lines), encoding="utf-8")
    (d / "ref").write_text("".join(l + "\n" for l in ref_lines), encoding="utf-8")
    (d / "utt2lang").write_text("".join(l + "\n" for l in lang_lines), encoding="utf-8")
    return d


def test_score_dir_outputs(tmp_path):
    d = make_dir(
        tmp_path / "decode_test_llm_greedy",
        ["u1 यह एक परीक्षण है।", "u2 আমি ভাত খাই", "u3 extra extra extra extra", "u9 no reference"],
        ["u1 यह एक परीक्षा है", "u2 আমি ভাত খাই।", "u3 ", "u4 missing hyp"],
        ["u1 hi", "u2 bn", "u3 hi", "u4 hi"],
    )
    assert score.main([str(d), "--log-level", "WARNING"]) == 0
    wer = (d / "wer").read_text().splitlines()[0]
    # u1: 1 sub (danda removed by the normaliser); u3: 4 ins (empty ref); u4: 2 del; N = 4 + 3 + 0 + 2
    assert wer == "%WER 77.78 [ 7 / 9, 4 ins, 2 del, 1 sub ]"
    assert re.match(r"%CER \d+\.\d\d \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \]", (d / "cer").read_text())
    recogs = (d / "recogs-test-llm_greedy.txt").read_text(encoding="utf-8").splitlines()
    assert recogs[0] == "u1:\tref=['यह', 'एक', 'परीक्षा', 'है']"
    assert recogs[1] == "u1:\thyp=['यह', 'एक', 'परीक्षण', 'है']"
    assert (d / "wer-summary-test-llm_greedy.txt").read_text() == "settings\tWER\nllm_greedy\t77.78\n"
    errs = (d / "errs-test-llm_greedy.txt").read_text(encoding="utf-8")
    assert errs.startswith("%WER = 77.78\n")
    for section in ("PER-UTT DETAILS:", "SUBSTITUTIONS:", "DELETIONS:", "INSERTIONS:", "PER-WORD STATS:"):
        assert section in errs
    assert "u1:\tयह एक (परीक्षा->परीक्षण) है" in errs
    assert "1   परीक्षा -> परीक्षण" in errs
    assert (d / "ref.trn").read_text(encoding="utf-8").splitlines()[2] == "(hi-u3)"
    assert (d / "hyp.trn").read_text(encoding="utf-8").splitlines()[3] == "(hi-u4)"
    js = json.loads((d / "scores.json").read_text(encoding="utf-8"))
    assert js["num_missing_hyp"] == 1 and js["num_extra_hyp"] == 1
    assert js["per_lang"]["bn"]["wer"]["errors"] == 0
    assert js["per_lang"]["hi"]["wer"]["ref_len"] == 6
    assert js["per_lang"]["hi"]["wer"]["ins"] == 4 and js["per_lang"]["bn"]["wer"]["ins"] == 0  # for show_results
    assert js["hallucination"]["long_hyp_pct"] == 25.0 and js["hallucination"]["loop_pct"] == 25.0
    if sclite.sclite_command() is not None:
        result = (d / "result.txt").read_text(encoding="utf-8")
        # sclite's sum line: Snt Wrd | Corr Sub Del Ins Err S.Err (counts table)
        assert re.search(r"\|\s*Sum\s*\|\s*4\s+9\s*\|\s*6\s+1\s+2\s+4\s+7\s+3\s*\|", result), result


def test_bad_input_fails_with_location(tmp_path, capsys):
    d = make_dir(tmp_path / "decode_x", ["u1 a", "u1 b"], ["u1 a"], ["u1 hi"])
    assert score.main([str(d)]) == 1
    assert f"{d / 'text'}:2: duplicate key 'u1'" in capsys.readouterr().err
    assert score.main([str(tmp_path / "nothing")]) == 1
