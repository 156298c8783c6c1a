"""prefixasr.bin.decode end to end on a tiny random system: files, resume after interruption, split jobs,
long-form with CTM, predicted language, clear errors."""
import copy
import json

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from lhotse import (CutSet, Fbank, FbankConfig, LilcomChunkyWriter, Recording, RecordingSet, SupervisionSegment,
                    SupervisionSet)

from test_model_fixtures import TINY
from prefixasr.bin import decode
from prefixasr.data.lang import LanguageMap
from prefixasr.data.tokenizer import Tokenizer, train_sentencepiece
from prefixasr.decode import writer as writer_mod
from prefixasr.model import build_model

torch.set_num_threads(1)
SENTENCES = ["यह एक छोटा वाक्य है", "মই ঘৰলৈ যাম", "ఇది ఒక పరీక్ష", "मैं आज बाज़ार जाऊँगा", "আমি ভাত খাই"]
LANGS = ["hi", "bn", "te", "hi", "bn"]


def _exp_dir(root, with_rnnt=True, encoder_ctc=False, decode=None):
    (root / "tokenizer").mkdir(parents=True)
    txt = root / "lm.txt"
    txt.write_text("\n".join(SENTENCES * 4) + "\n", encoding="utf-8")
    spm = train_sentencepiece([txt], root / "tokenizer" / "spm", vocab_size=60)
    tok = Tokenizer.load(spm)
    LanguageMap.from_languages(["bn", "hi", "te"]).save(root / "lang2id.json")
    model_cfg = copy.deepcopy(TINY["model"])
    model_cfg["llm"]["arch"]["tie_word_embeddings"] = False
    model_cfg.update(bos_id=tok.bos_id, eos_id=tok.eos_id, blank_id=0)
    if not with_rnnt:
        model_cfg["loss"]["rnnt_weight"] = 0.0
    if encoder_ctc:  # over the LLM's own tokens, as with one character model (joint CTC decoding)
        model_cfg["loss"]["encoder_ctc_weight"] = 0.3
        model_cfg["encoder_ctc"] = {"vocab_size": encoder_ctc if encoder_ctc is not True else tok.vocab_size,
                                    "blank_id": 0}
    cfg = {"model": model_cfg, "exp_files": {"tokenizer": "tokenizer/spm.model", "lang_map": "lang2id.json"}}
    if decode:
        cfg["decode"] = decode
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    torch.manual_seed(0)
    model = build_model(cfg, tok.vocab_size, 3)
    with torch.no_grad():  # make the random system emit varied tokens (see test_decode_search)
        for p in model.llm.parameters():
            if p.dim() > 1:
                p.mul_(3.0)
        if model.transducer is not None:
            model.transducer.joiner.output_linear.weight.mul_(8.0)
            model.transducer.joiner.output_linear.bias[0] += 1.0
    torch.save({"model": model.state_dict()}, root / "epoch-1.pt")
    return root


def _cuts(root):
    rng = np.random.default_rng(0)
    recs, sups = [], []
    for i in range(5):
        path = root / f"r{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * (1.0 + 0.2 * i)))).astype("float32"), 16000)
        rec = Recording.from_file(path, recording_id=f"r{i}")
        recs.append(rec)
        sups.append(SupervisionSegment(f"r{i}-s", f"r{i}", 0.0, rec.duration, text=SENTENCES[i], language=LANGS[i]))
    # one long recording with three segments
    path = root / "long.wav"
    sf.write(path, (0.1 * rng.standard_normal(16000 * 9)).astype("float32"), 16000)
    long_rec = Recording.from_file(path, recording_id="long")
    long_sups = [SupervisionSegment(f"long-{k}", "long", 3.0 * k, 2.5, text=SENTENCES[k], language="hi")
                 for k in range(3)]
    fb = Fbank(FbankConfig(num_mel_bins=80))
    seg = CutSet.from_manifests(RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))
    seg = seg.trim_to_supervisions(keep_overlapping=False).to_eager()
    seg = seg.compute_and_store_features(fb, root / "feats", num_jobs=1, storage_type=LilcomChunkyWriter)
    seg.to_file(root / "test_cuts.jsonl.gz")
    lng = CutSet.from_manifests(RecordingSet.from_recordings([long_rec]), SupervisionSet.from_segments(long_sups))
    lng = lng.compute_and_store_features(fb, root / "feats_long", num_jobs=1, storage_type=LilcomChunkyWriter)
    lng.to_file(root / "test_long_cuts.jsonl.gz")
    return root / "test_cuts.jsonl.gz", root / "test_long_cuts.jsonl.gz"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("dec")
    exp = _exp_dir(root / "exp")
    seg, lng = _cuts(root)
    return exp, seg, lng


FINAL = ["text", "ref", "utt2lang", "decode_info.json", "wer", "cer", "ref.trn", "hyp.trn", "scores.json"]


def _run(exp, cuts, out, *extra):
    return decode.main(["--exp-dir", str(exp), "--cuts", str(cuts), "--decode-dir", str(out),
                        "--max-duration", "3", "--log-level", "WARNING", *extra])


def test_decode_segments_and_resume(env, tmp_path, monkeypatch):
    exp, seg, _ = env
    full = tmp_path / "full"
    assert _run(exp, seg, full, "--method", "llm_greedy", "--max-tokens-per-frame", "0.5") == 0
    suffix = "llm_greedy_epoch-last_avg-1_mtf-0.5"  # a token limit other than 1 is named
    for name in FINAL + [f"recogs-test-{suffix}.txt", f"errs-test-{suffix}.txt"]:
        assert (full / name).is_file(), name
    text = (full / "text").read_text(encoding="utf-8").splitlines()
    assert [line.split()[0] for line in text] == ["r0-s", "r1-s", "r2-s", "r3-s", "r4-s"]
    assert any(len(line.split()) > 1 for line in text)  # the random system does say something
    assert "r1-s মই ঘৰলৈ যাম" in (full / "ref").read_text(encoding="utf-8")
    # the system has a LID head: its accuracy is measured on every decode, the prompts stay the oracle's
    pred = dict(line.split() for line in (full / "utt2lang_pred").read_text().splitlines())
    lang = dict(line.split() for line in (full / "utt2lang").read_text().splitlines())
    info = json.loads((full / "decode_info.json").read_text())
    assert info["langid"] == "oracle" and sorted(pred) == sorted(lang)
    assert info["langid_accuracy"] == round(100 * sum(pred[u] == lang[u] for u in lang) / len(lang), 2)

    # interrupt after the first batch, then rerun: identical final files
    part = tmp_path / "part"
    real_append = writer_mod.DecodeDirWriter.append
    calls = {"n": 0}

    def crash_after_first(self, records):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        real_append(self, records)

    monkeypatch.setattr(writer_mod.DecodeDirWriter, "append", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        _run(exp, seg, part, "--method", "llm_greedy", "--max-tokens-per-frame", "0.5")
    monkeypatch.undo()
    assert not (part / "text").exists()
    with open(next((part / ".partial").glob("*.jsonl")), "a", encoding="utf-8") as f:
        f.write('{"utt": "r4-s", "hy')  # a record torn by the crash
    assert _run(exp, seg, part, "--method", "llm_greedy", "--max-tokens-per-frame", "0.5") == 0
    for name in FINAL:
        got = (part / name).read_text(encoding="utf-8")
        want = (full / name).read_text(encoding="utf-8")
        assert got == want.replace(str(full), str(part)), name


def test_split_jobs_merge_to_one_result(env, tmp_path):
    exp, seg, _ = env
    single, split = tmp_path / "single", tmp_path / "split"
    assert _run(exp, seg, single, "--method", "rnnt_beam", "--beam", "2", "--no-score") == 0
    for j in range(2):
        assert _run(exp, seg, split, "--method", "rnnt_beam", "--beam", "2", "--no-score",
                    "--num-jobs", "2", "--job-index", str(j)) == 0
        assert (split / "text").exists() == (j == 1)  # only the last job merges
    for name in ("text", "ref", "utt2lang"):
        assert (split / name).read_text(encoding="utf-8") == (single / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("method", ["rnnt_greedy", "llm_greedy"])
def test_long_form_ctm_and_predicted_language(env, tmp_path, method):
    exp, _, lng = env
    out = tmp_path / "long"
    assert _run(exp, lng, out, "--method", method, "--long-form", "--window", "4", "--overlap", "1",
                "--langid", "predicted", "--max-tokens-per-frame", "0.3") == 0
    cut_id = next(iter(CutSet.from_file(lng))).id
    hyp = (out / "text").read_text(encoding="utf-8").split()
    ctm = (out / "ctm").read_text(encoding="utf-8").splitlines()
    assert hyp[0] == cut_id and len(ctm) == len(hyp) - 1 > 0
    assert [line.split()[4] for line in ctm] == hyp[1:]
    starts = [float(line.split()[2]) for line in ctm]
    assert starts == sorted(starts) and all(0 <= s <= 9.0 for s in starts)
    assert (out / "ref").read_text(encoding="utf-8").strip() == f"{cut_id} " + " ".join(SENTENCES[:3])
    info = json.loads((out / "decode_info.json").read_text())
    pred = (out / "utt2lang_pred").read_text().split()
    lang = (out / "utt2lang").read_text().split()
    assert pred[0] == cut_id and pred[1] in ("bn", "hi", "te")
    assert info["langid"] == "predicted" and info["langid_accuracy"] == (100.0 if pred[1] == lang[1] else 0.0)


def test_clear_errors(env, tmp_path, capsys):
    exp, seg, _ = env
    assert _run(exp, tmp_path / "missing.jsonl.gz", tmp_path / "o") == 1
    assert "no such cuts file" in capsys.readouterr().err
    no_rnnt = _exp_dir(tmp_path / "exp2", with_rnnt=False)
    assert _run(no_rnnt, seg, tmp_path / "o2", "--method", "rnnt_greedy") == 1
    assert "trained without the RNN-T branch" in capsys.readouterr().err
    # resuming a decode dir under other settings would mix results: refused
    assert _run(exp, seg, tmp_path / "o3", "--method", "rnnt_beam", "--beam", "2", "--no-score") == 0
    assert _run(exp, seg, tmp_path / "o3", "--method", "rnnt_beam", "--beam", "3", "--no-score") == 1
    err = capsys.readouterr().err
    assert "decoded with other settings (options, suffix)" in err


def test_recording_language_not_in_lang2id(env, tmp_path, capsys):
    """With per-language prompts a recording's unknown language is an error naming both, not prompt id 0."""
    exp, _, lng = env
    cuts = CutSet.from_file(lng).to_eager()
    cut = next(iter(cuts))
    for s in cut.supervisions:
        s.language = "xx"
    bad = tmp_path / "bad_long_cuts.jsonl.gz"
    cuts.to_file(bad)
    assert _run(exp, bad, tmp_path / "o", "--method", "rnnt_greedy", "--long-form", "--window", "4",
                "--overlap", "1") == 1
    assert f"recording {cut.id}: language 'xx' is not in the model's lang2id map" in capsys.readouterr().err


def test_long_form_result_words_and_language_logits(env):
    """The library's long-form path: unrounded stitched words, and mean LID logits when predicted."""
    from prefixasr.decode.decoder import Decoder
    from prefixasr.decode.runner import DecodeOptions
    from prefixasr.model import load_model

    exp, _, lng = env
    cut = next(iter(CutSet.from_file(lng)))
    feats = torch.as_tensor(cut.load_features())
    dec = Decoder(load_model(exp), DecodeOptions("rnnt_greedy"), "predicted")
    res = dec.long_form(feats, "hi", cut.id, 4.0, 1.0, 3.0)
    assert res.words and res.lang_logits.shape == (3,)
    assert res.language == dec.lang_map.language(int(res.lang_logits.argmax()))
    assert abs(float(res.lang_probs.sum()) - 1.0) < 1e-5 and res.language_prob == float(res.lang_probs.max())
    rec = dec.recording(cut, 4.0, 1.0, 3.0)
    assert rec["hyp"] == res.text and rec["pred_lang"] == res.language
    assert rec["ctm"] == [[w.text, round(w.start, 2), round(max(w.end - w.start, 0.01), 2)] for w in res.words]
    given = dec.long_form(feats, "te", cut.id, 4.0, 1.0, 3.0, predict=False)
    assert given.language == "te" and given.lang_logits is None and given.language_prob is None


def test_joint_ctc_decoding_defaults_to_the_system_config(tmp_path, env):
    _, seg, _ = env
    exp = _exp_dir(tmp_path / "exp", encoder_ctc=True, decode={"ctc_weight": 0.5})
    assert _run(exp, seg, tmp_path / "joint", "--method", "llm_greedy") == 0
    info = json.loads((tmp_path / "joint" / "decode_info.json").read_text())
    assert info["options"]["ctc_weight"] == 0.5 and info["suffix"].endswith("ctc-0.5")
    # the Python API too: DecodeOptions without a weight take the system's (as transcribe and decode do)
    from prefixasr.decode.decoder import Decoder
    from prefixasr.decode.runner import DecodeOptions
    from prefixasr.model import load_model

    assert Decoder(load_model(exp), DecodeOptions("llm_greedy")).opts.llm.ctc_weight == 0.5
    assert _run(exp, seg, tmp_path / "alone", "--method", "llm_greedy", "--ctc-weight", "0") == 0
    joint, alone = ((tmp_path / d / "text").read_text(encoding="utf-8") for d in ("joint", "alone"))
    assert joint != alone, "the CTC's prefix score changes what the random LLM writes"
    # a CTC over other labels than the LLM's tokens cannot be joined
    other = _exp_dir(tmp_path / "other", encoder_ctc=30)
    assert _run(other, seg, tmp_path / "x", "--method", "llm_greedy", "--ctc-weight", "0.5") == 1


def test_beam_and_length_penalty_default_to_the_system_config(tmp_path, env):
    """decode.beam, decode.length_penalty and decode.max_tokens_per_frame are what llm_beam uses unless told (as
    conf/llm/gemma3_270m.yaml sets the first two): the decode dir's settings and name say so, and its words are
    those of the same options given."""
    _, seg, _ = env
    exp = _exp_dir(tmp_path / "exp", decode={"beam": 3, "length_penalty": 0.0, "max_tokens_per_frame": 0.5})
    assert _run(exp, seg, tmp_path / "system", "--method", "llm_beam", "--no-score") == 0
    info = json.loads((tmp_path / "system" / "decode_info.json").read_text())
    assert (info["options"]["beam"], info["options"]["length_penalty"]) == (3, 0.0)
    assert info["options"]["max_tokens_per_frame"] == 0.5
    assert info["suffix"] == "llm_beam_epoch-last_avg-1_beam-3_lp-0_mtf-0.5"
    assert _run(exp, seg, tmp_path / "given", "--method", "llm_beam", "--beam", "3", "--length-penalty", "0",
                "--max-tokens-per-frame", "0.5", "--no-score") == 0
    assert _run(exp, seg, tmp_path / "told", "--method", "llm_beam", "--beam", "2", "--length-penalty", "1",
                "--max-tokens-per-frame", "1", "--no-score") == 0
    assert json.loads((tmp_path / "told" / "decode_info.json").read_text())["suffix"].endswith("_beam-2")
    system, given = ((tmp_path / d / "text").read_text(encoding="utf-8") for d in ("system", "given"))
    assert system == given


def test_the_method_is_the_systems_own_unless_named(tmp_path, env):
    """Without --method the decode tool searches as transcribe does: the config's decode.method, else the LLM's
    greedy search; the decode dir's name and settings say which."""
    exp0, seg, _ = env
    assert _run(exp0, seg, tmp_path / "none", "--no-score") == 0
    assert json.loads((tmp_path / "none" / "decode_info.json").read_text())["method"] == "llm_greedy"
    exp = _exp_dir(tmp_path / "exp", decode={"method": "rnnt_greedy"})
    assert _run(exp, seg, tmp_path / "system", "--no-score") == 0
    info = json.loads((tmp_path / "system" / "decode_info.json").read_text())
    assert info["method"] == "rnnt_greedy" and info["suffix"].startswith("rnnt_greedy_")
    assert _run(exp, seg, tmp_path / "given", "--method", "rnnt_greedy", "--no-score") == 0
    assert _run(exp, seg, tmp_path / "told", "--method", "llm_greedy", "--no-score") == 0
    system, given, told = ((tmp_path / d / "text").read_text(encoding="utf-8") for d in ("system", "given", "told"))
    assert system == given and system != told


def test_pause_split_decodes_each_segment_alone(tmp_path, env):
    """--split pauses: every segment that `Decoder.pauses` finds is decoded as if it were a recording of its own,
    and the words are joined in order (no stitching); the LLM methods of a system with an encoder CTC use it
    by default, everything else overlapping windows."""
    from prefixasr.decode.decoder import Decoder
    from prefixasr.decode.runner import DecodeOptions
    from prefixasr.model import load_model

    _, seg, lng = env
    exp = _exp_dir(tmp_path / "exp", encoder_ctc=True)
    loaded = load_model(exp)
    cut = next(iter(CutSet.from_file(lng)))
    feats = torch.as_tensor(cut.load_features())
    dec = Decoder(loaded, DecodeOptions("llm_greedy"), "oracle")
    assert dec.default_split() == "pauses"
    assert Decoder(loaded, DecodeOptions("rnnt_greedy"), "oracle").default_split() == "windows"
    assert Decoder(load_model(env[0]), DecodeOptions("llm_greedy"), "oracle").default_split() == "windows"
    found = dec.pauses(feats, 3.0)
    assert all(0 <= s < e <= 9.0 + 1e-6 for s, e in found) and all(a[1] <= b[0] for a, b in zip(found, found[1:]))
    spans = [(0.5, 2.5), (3.0, 5.5), (6.0, 8.5)]
    dec.pauses = lambda *a, **k: spans
    res = dec.long_form(feats, "hi", cut.id, 4.0, 1.0, 3.0, split="pauses")
    alone = [dec.long_form(feats[int(s * 100):int(e * 100)], "hi", cut.id, 30.0, 0.0, 3.0, split="windows")
             for s, e in spans]
    assert res.text == " ".join(r.text for r in alone if r.text) and res.words
    for w in res.words:  # each word lies inside its segment
        assert any(s - 1e-6 <= w.start <= w.end <= e + 1e-6 for s, e in spans)
    out = tmp_path / "long"
    assert _run(exp, lng, out, "--method", "llm_greedy", "--long-form", "--max-tokens-per-frame", "0.3") == 0
    info = json.loads((out / "decode_info.json").read_text())
    assert info["options"]["split"] == "pauses" and "longform-pauses" in info["suffix"]
    # a system without an encoder CTC has no pauses to cut at
    assert _run(env[0], lng, tmp_path / "x", "--method", "llm_greedy", "--long-form", "--split", "pauses") == 1


def test_script_mask_keeps_each_language_in_its_script(tmp_path, env):
    from prefixasr.data.text import LANG_RULES
    from prefixasr.decode.script_mask import script_mask

    exp, seg, _ = env
    tok = Tokenizer.load(exp / "tokenizer" / "spm.model")
    table = script_mask(tok, ["bn", "hi", "te"])
    blocks = {lang: LANG_RULES[lang].block for lang in ("bn", "hi", "te")}
    for row, lang in enumerate(["bn", "hi", "te"]):
        for i in range(tok.vocab_size):
            text = tok.decode([i])
            foreign = any(lo <= ord(c) <= hi for other, (lo, hi) in blocks.items() if other != lang for c in text)
            assert bool(table[row, i]) != foreign, (lang, text)
    assert not table.all(1).any(), "every language has tokens of the other scripts to rule out"

    def foreign_letters(out):
        langs = dict(zip([f"r{i}-s" for i in range(5)], LANGS))
        n = 0
        for line in (out / "text").read_text(encoding="utf-8").splitlines():
            utt, _, hyp = line.partition(" ")
            lo, hi = LANG_RULES[langs[utt]].block
            n += sum(1 for c in hyp if c.strip() and c != "\u2047" and not lo <= ord(c) <= hi)  # not ⁇ (unk)
        return n

    for method in ("llm_greedy", "rnnt_greedy"):
        assert _run(exp, seg, tmp_path / f"{method}_free", "--method", method) == 0
        assert foreign_letters(tmp_path / f"{method}_free") > 0, "the random system mixes scripts"
        assert _run(exp, seg, tmp_path / method, "--method", method, "--script-mask", "true") == 0
        assert foreign_letters(tmp_path / method) == 0
        info = json.loads((tmp_path / method / "decode_info.json").read_text())
        assert info["options"]["script_mask"] is True and info["suffix"].endswith("script-mask")
    # the system config's decode.script_mask is the default, as decode.ctc_weight is
    masked = _exp_dir(tmp_path / "exp", decode={"script_mask": True})
    assert _run(masked, seg, tmp_path / "by_config", "--method", "llm_greedy") == 0
    assert foreign_letters(tmp_path / "by_config") == 0
