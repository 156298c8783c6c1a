"""Paired bootstrap intervals: a real difference is found, no difference is not, and show_results reports both."""
import json

import pytest

from prefixasr.bin import score, show_results
from prefixasr.scoring.effects import Comparison, effect_label, paired_bootstrap, utt_errors


def _errors(errs_by_lang, words=10):
    """{utt: (lang, words, errors)} from {lang: [errors of each utterance]}."""
    return {f"{lang}_{i:03d}": (lang, words, e) for lang, errs in errs_by_lang.items() for i, e in enumerate(errs)}


def test_a_consistent_gain_is_significant_and_its_interval_holds_the_point():
    base = _errors({"hi": [4] * 30, "ta": [3] * 30})
    system = _errors({"hi": [2] * 30, "ta": [3] * 29 + [2]})
    effects = paired_bootstrap(base, system, num_samples=500)
    hi, ta, avg = effects
    assert (hi.lang, ta.lang, avg.lang) == ("hi", "ta", "avg")
    assert hi.rel == pytest.approx(-50.0) and hi.low == pytest.approx(-50.0) and hi.verdict == "better"
    assert ta.verdict == "no difference" and ta.low < 0 <= ta.high  # one utterance of 30 differs
    # avg: macro average of 40% and 30% against 20% and 29.67%
    assert avg.base == pytest.approx(35.0) and avg.system == pytest.approx((20 + 89 / 3) / 2)
    assert avg.low <= avg.rel <= avg.high < 0 and avg.verdict == "better"


def test_noise_gives_an_interval_around_zero():
    import random

    rng = random.Random(0)
    errs = {"hi": [rng.randint(0, 6) for _ in range(40)]}
    shuffled = {"hi": [e + rng.choice([-1, 0, 1]) if e else e for e in errs["hi"]]}
    avg = paired_bootstrap(_errors(errs), _errors(shuffled), num_samples=500)[-1]
    assert avg.low < 0 < avg.high and avg.verdict == "no difference"


def test_different_utterances_are_an_error():
    with pytest.raises(ValueError, match="different utterances"):
        paired_bootstrap(_errors({"hi": [1, 2]}), _errors({"hi": [1]}))


def _decode_dir(root, system, hyps, refs, langs, set_name="test"):
    d = root / system / f"decode_{set_name}_llm_greedy"
    d.mkdir(parents=True)
    for name, m in (("text", hyps), ("ref", refs), ("utt2lang", langs)):
        (d / name).write_text("".join(f"{k} {v}\n" for k, v in m.items()), encoding="utf-8")
    assert score.main([str(d), "--no-sclite", "--log-level", "WARNING"]) == 0
    return d


def test_show_results_compares_pairs_with_intervals_and_perplexity(tmp_path):
    refs = {f"u{i:02d}": "a b c d" for i in range(20)}
    langs = {u: ("hi" if i % 2 else "bn") for i, u in enumerate(refs)}
    exp = tmp_path / "exp"
    d = _decode_dir(exp, "ft_ce", {u: "a x y d" for u in refs}, refs, langs)  # 50% WER
    _decode_dir(exp, "ft_ce_rnnt", {u: "a b c d" if i % 4 else "a b x d" for i, u in enumerate(refs)}, refs, langs)
    per_utt = json.loads((d / "scores.json").read_text(encoding="utf-8"))["per_utt"]
    assert per_utt["u01"] == ["hi", 4, 2, 7, 2] and utt_errors(d / "scores.json")["u01"] == ("hi", 4, 2)
    ppl = tmp_path / "ppl.json"
    ppl.write_text(json.dumps({"lm": "exp/lm/hf", "cuts": "dev", "per_lang": {"hi": {"perplexity": 7.5, "tokens": 90,
                   "sentences": 3}}, "all": {"perplexity": 7.5, "tokens": 90}}), encoding="utf-8")
    out = tmp_path / "RESULTS.md"
    assert show_results.main(["--exp-root", str(exp), "--output", str(out), "--baseline", "ft_ce", "--compare",
                              "ft_ce:ft_ce_rnnt", "--lm-perplexity", str(ppl), "--bootstrap-samples", "200"]) == 0
    md = out.read_text(encoding="utf-8")
    assert "## Effects with paired bootstrap 95% intervals" in md
    row = next(l for l in md.splitlines() if l.startswith("|test|`ft_ce_rnnt/llm_greedy` vs `ft_ce/llm_greedy`|WER|"))
    assert "|50.00|6.25|-87.5%|" in row and row.endswith("|better|")
    assert "|hi|7.50|-|90|3|" in md
    assert (tmp_path / "RESULTS_effects.png").read_bytes()[:4] == b"\x89PNG"
    assert show_results.main(["--exp-root", str(exp), "--output", str(out), "--compare", "ft_ce-ft_ce_rnnt"]) == 1
    assert show_results.main(["--exp-root", str(exp), "--output", str(out), "--compare", "ft_ce:nope"]) == 1


def test_systems_with_their_own_decode_settings_are_paired_by_search():
    """Each system decoded with its own decode block (Gemma's ctc weight, the small LM's) still pairs, by its search and
    long-form split, never across them."""
    own = show_results._search("llm_beam_epoch-last_avg-2_beam-4_ctc-0.8-propose_ngram-0.7_wip-1_script-mask")
    assert own == show_results._search("llm_beam_epoch-last_avg-2_beam-4_ctc-0.5_ngram-0.7_wip-3_script-mask")
    assert own == ("llm_beam", "")
    long = show_results._search("llm_beam_epoch-last_avg-2_beam-4_longform-pauses_ctc-0.5_script-mask")
    assert long == ("llm_beam", "longform-pauses") != own
    assert show_results._search("rnnt_greedy_epoch-last_avg-2_script-mask") != own


def test_effect_label_names_the_search():
    """A pair of systems compared with two searches gets two names in the chart."""
    def comp(setting: str) -> Comparison:
        return Comparison(f"small_lm/{setting}", f"gemma/{setting}", "test", "word", [])

    names = {effect_label(comp(s)) for s in ("llm_beam_epoch-last_avg-2_beam-8", "rnnt_greedy_epoch-last_avg-2")}
    assert names == {"test WER: gemma vs small_lm (llm_beam)", "test WER: gemma vs small_lm (rnnt_greedy)"}


def test_compare_tool_pools_decode_dirs_of_two_experiments(tmp_path, capsys):
    from prefixasr.bin import compare

    refs = {f"u{i:02d}": "a b c d" for i in range(20)}
    langs = {u: ("hi" if i % 2 else "bn") for i, u in enumerate(refs)}
    half = {u: refs[u] for u in list(refs)[:10]}, {u: refs[u] for u in list(refs)[10:]}
    base, system = [], []
    for k, part in enumerate(half):  # two sets per side, in two exp roots; the base 50% WER, the system 0%
        lang = {u: langs[u] for u in part}
        base.append(_decode_dir(tmp_path / "exp_a" / f"set{k}", "ft_ce", {u: "a x y d" for u in part}, part, lang))
        system.append(_decode_dir(tmp_path / "exp_b" / f"set{k}", "gemma", part, part, lang))
    out = tmp_path / "cmp.json"
    argv = ["--base", *map(str, base), "--system", *map(str, system), "--output", str(out), "--log-level", "WARNING"]
    assert compare.main(argv) == 0
    js = json.loads(out.read_text(encoding="utf-8"))
    avg = js["WER"][-1]
    assert (avg["lang"], avg["num_utts"], avg["base"], avg["system"], avg["rel"], avg["verdict"]) == \
        ("avg", 20, 50.0, 0.0, -100.0, "better")
    assert "WER  avg      20   50.00    0.00" in capsys.readouterr().out
    # a side holding one set twice, a side missing a set, a dir never scored: one-line errors, exit status 1
    assert compare.main(["--base", str(base[0]), str(base[0]), "--system", *map(str, system)]) == 1
    assert compare.main(["--base", str(base[0]), "--system", *map(str, system)]) == 1
    assert compare.main(["--base", str(tmp_path), "--system", str(system[0])]) == 1


def test_compare_tool_averages_the_runs_of_each_side(tmp_path, capsys):
    """--base once a run: two runs of the baseline (50% and 0% WER) read as their mean, 25%, against a system at 0%;
    a run that decoded other utterances is a one-line error."""
    from prefixasr.bin import compare

    refs = {f"u{i:02d}": "a b c d" for i in range(10)}
    langs = {u: "hi" for u in refs}
    worse = _decode_dir(tmp_path / "seed1", "small_lm", {u: "a x y d" for u in refs}, refs, langs)
    right = _decode_dir(tmp_path / "seed2", "small_lm", refs, refs, langs)
    system = _decode_dir(tmp_path / "gemma", "gemma", refs, refs, langs)
    out = tmp_path / "cmp.json"
    argv = ["--base", str(worse), "--base", str(right), "--system", str(system), "--output", str(out)]
    assert compare.main(argv) == 0
    avg = json.loads(out.read_text(encoding="utf-8"))["WER"][-1]
    assert (avg["num_utts"], avg["base"], avg["system"], avg["rel"]) == (10, 25.0, 0.0, -100.0)
    assert "base: the mean of 2 run(s); system: the mean of 1 run(s)" in capsys.readouterr().out
    fewer = {u: refs[u] for u in list(refs)[:5]}
    short = _decode_dir(tmp_path / "seed3", "small_lm", fewer, fewer, {u: "hi" for u in fewer})
    assert compare.main(["--base", str(worse), "--base", str(short), "--system", str(system)]) == 1


def test_show_results_compares_the_mean_of_training_runs(tmp_path, capfd):
    """--compare small_lm+small_lm_seed1:gemma: the baseline's two runs (50% and 0% WER) read as their mean, 25%,
    named in the table; a setting one run lacks is skipped with a warning, not compared with fewer runs."""
    refs = {f"u{i:02d}": "a b c d" for i in range(10)}
    langs = {u: "hi" for u in refs}
    exp = tmp_path / "exp"
    _decode_dir(exp, "small_lm", {u: "a x y d" for u in refs}, refs, langs)
    _decode_dir(exp, "small_lm_seed1", refs, refs, langs)
    _decode_dir(exp, "gemma", refs, refs, langs)
    for system in ("small_lm", "gemma"):  # a second test set only the first runs decoded
        _decode_dir(exp, system, refs, refs, langs, set_name="test_unseen")
    out = tmp_path / "RESULTS.md"
    argv = ["--exp-root", str(exp), "--output", str(out), "--bootstrap-samples", "100", "--no-charts"]
    assert show_results.main([*argv, "--compare", "small_lm+small_lm_seed1:gemma"]) == 0
    md = out.read_text(encoding="utf-8")
    head = "|test|`gemma/llm_greedy` vs `small_lm/llm_greedy` (mean of 2 runs: small_lm, small_lm_seed1)|WER|"
    row = next(l for l in md.splitlines() if l.startswith(head))
    assert "|25.00|0.00|-100.0%|" in row
    assert not any(l.startswith("|test_unseen|`gemma/") for l in md.splitlines())
    err = capfd.readouterr().err
    assert "small_lm_seed1 decoded no test_unseen" in err
    assert show_results.main([*argv, "--compare", "small_lm+nope:gemma"]) == 1
