"""End to end: pack a tiny system, transcribe a several-minute synthetic recording, and get exactly the
decode tool's words on the same model; the Python API on arrays/tensors, 8 kHz and stereo; bad input."""
import json
import tarfile

import numpy as np
import pytest
import soundfile as sf
import torch

from prefixasr.bin import decode as decode_cli
from prefixasr.bin import pack as pack_cli
from prefixasr.bin import transcribe as transcribe_cli
from test_inference_fixtures import make_exp_dir, speechlike
from test_inference_writers import parse_srt, parse_vtt

torch.set_num_threads(1)
LONG_SECONDS = 200.0  # several minutes: many windows (10 s for the LLM, 30 s for the RNN-T)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    root = tmp_path_factory.mktemp("transcribe")
    exp = make_exp_dir(root)
    model = root / "model.tar.gz"
    assert pack_cli.main(["--exp-dir", str(exp), "--out", str(model), "--avg", "2"]) == 0
    wav = root / "long.wav"
    sf.write(wav, speechlike(LONG_SECONDS, seed=1), 16000)
    return exp, model, wav, root


def _decode_tool(exp, wav, root, method, langid, extra):
    """prefixasr.bin.decode --long-form on a cuts file whose features are stored losslessly."""
    from lhotse import CutSet, Fbank, FbankConfig, MonoCut, NumpyFilesWriter, Recording, SupervisionSegment

    cuts_path = root / "long_cuts.jsonl.gz"
    if not cuts_path.exists():
        rec = Recording.from_file(wav, recording_id="long")
        sup = SupervisionSegment("long", "long", 0.0, rec.duration, text="", language="hi")
        cuts = CutSet.from_cuts([MonoCut("long", 0.0, rec.duration, 0, recording=rec, supervisions=[sup])])
        cuts = cuts.compute_and_store_features(Fbank(FbankConfig(num_mel_bins=80)), root / "feats",
                                               storage_type=NumpyFilesWriter)
        cuts.to_file(cuts_path)
    out = root / f"decode_{method}_{langid}"
    assert decode_cli.main(["--exp-dir", str(exp), "--cuts", str(cuts_path), "--method", method, "--epoch", "2",
                            "--avg", "2", "--long-form", "--langid", langid,  # the method's default windows
                            "--decode-dir", str(out), "--no-score", "--device", "cpu", *extra]) == 0
    hyp = (out / "text").read_text(encoding="utf-8").rstrip("\n").partition(" ")[2]
    pred = out / "utt2lang_pred"
    return hyp, pred.read_text(encoding="utf-8").split()[1] if pred.exists() else None


# the random LLM writes words in short loops (repeated words at every seam: hard for stitching)
@pytest.mark.parametrize("method,lang,extra", [("llm_greedy", "hi", ["--repetition-penalty", "1.2"]),
                                               ("rnnt_greedy", "auto", [])])
def test_transcribe_equals_decode_tool(system, tmp_path, capsys, method, lang, extra):
    exp, model, wav, root = system
    ref, ref_lang = _decode_tool(exp, wav, root, method, "predicted" if lang == "auto" else "oracle", extra)
    capsys.readouterr()
    assert transcribe_cli.main([*extra, "--model", str(model), "--lang", lang, "--method", method, "--device", "cpu",
                                "--output-format", "json,srt,vtt,ctm,txt", "--output-dir", str(tmp_path),
                                str(wav)]) == 0
    name, got_lang, prob, text = capsys.readouterr().out.rstrip("\n").split("\t")
    assert name == str(wav) and len(ref.split()) > 20 and len(set(ref.split())) > 3
    assert text == ref  # the same words as the decode tool, stitched the same way
    if lang == "auto":
        assert got_lang == ref_lang and 0.0 < float(prob) <= 1.0
    else:
        assert (got_lang, prob) == ("hi", "-")
    js = json.loads((tmp_path / "long.json").read_text(encoding="utf-8"))
    assert js["text"] == text and abs(js["duration"] - LONG_SECONDS) < 0.01
    for cues in (parse_srt((tmp_path / "long.srt").read_text(encoding="utf-8")),
                 parse_vtt((tmp_path / "long.vtt").read_text(encoding="utf-8"))):
        assert " ".join(c[2] for c in cues) == text
        assert all(s0 <= e0 <= s1 for (s0, e0, _), (s1, _, _) in zip(cues, cues[1:]))
        assert all(0.0 <= s <= e <= LONG_SECONDS for s, e, _ in cues)
    ctm = (tmp_path / "long.ctm").read_text(encoding="utf-8").split("\n")[:-1]
    assert [line.split()[4] for line in ctm] == text.split()


def test_python_api_arrays_8k_stereo_and_exp_dir(system, tmp_path):
    from prefixasr import Transcriber

    exp, model, wav, root = system
    tr = Transcriber.from_pretrained(model, device="cpu", method="rnnt_greedy", window=10.0, overlap=2.0)
    x16 = speechlike(25.0, seed=3)
    r = tr.transcribe(x16, sample_rate=16000, lang="te")
    assert r.language == "te" and r.language_prob is None and abs(r.duration - 25.0) < 1e-3
    assert r.text == " ".join(w.text for w in r.words) and r.segments
    # the same audio as a stereo 8 kHz tensor (channels first): runs, times stay inside the audio
    x8 = torch.from_numpy(np.stack([x16[::2], 0.5 * x16[::2]]))
    r8 = tr.transcribe(x8, sample_rate=8000)
    assert r8.language in tr.languages and 0.0 < r8.language_prob <= 1.0
    assert all(0.0 <= s.start <= s.end <= r8.duration for s in r8.segments)
    # an experiment directory, and an archive unpacked by hand, load too and give the archive's result
    same = Transcriber.from_pretrained(exp, device="cpu", method="rnnt_greedy", epoch=2, avg=2, window=10.0,
                                       overlap=2.0)
    assert same.transcribe(x16, sample_rate=16000, lang="te").text == r.text
    with tarfile.open(model) as tar:
        tar.extractall(tmp_path, filter="data")
    by_hand = Transcriber.from_pretrained(tmp_path / "prefixasr-model", device="cpu", method="rnnt_greedy",
                                          window=10.0, overlap=2.0)
    assert by_hand.transcribe(x16, sample_rate=16000, lang="te").text == r.text


def test_bad_inputs_reported_and_others_transcribed(system, tmp_path, capsys):
    exp, model, wav, root = system
    good = tmp_path / "good 8k stereo.wav"
    sf.write(good, np.stack([speechlike(6.0, 8000, seed=4)] * 2, axis=1), 8000)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00garbage" * 100)
    good2 = tmp_path / "good.flac"
    sf.write(good2, speechlike(4.0, 44100, seed=5), 44100)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{good2} ta\n{good2} xx\n", encoding="utf-8")
    capsys.readouterr()
    rc = transcribe_cli.main(["--model", str(model), "--method", "rnnt_greedy", "--device", "cpu",
                              "--output-format", "srt", "--output-dir", str(tmp_path / "out"),
                              str(good), str(empty), str(junk), str(tmp_path / "missing.wav"),
                              "--file-list", str(listing)])
    out, err = capsys.readouterr()
    assert rc == 1
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(good), str(good2)]
    assert lines[1].split("\t")[1:3] == ["ta", "-"]
    for path, reason in [(empty, "empty audio"), (junk, "cannot read audio"),
                         (tmp_path / "missing.wav", "no such file"), (good2, "unknown language 'xx'")]:
        assert any(f"{path}: " in line and reason in line for line in err.splitlines() if "ERROR" in line), reason
    assert "transcribed 2 of 6 files" in err and "skipped 4 with errors" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.srt", "good_8k_stereo.srt"]


def test_bad_model_or_lang_is_one_line(system, tmp_path, capsys):
    exp, model, wav, root = system
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(model.read_bytes()[:3000])
    cases = [(["--model", str(truncated)], f"{truncated}: truncated"),
             (["--model", str(model), "--lang", "xx"], "unknown language 'xx'; this model knows: hi, ta, te"),
             (["--model", str(tmp_path / "nope.tar.gz")], "no such model archive")]
    for args, reason in cases:
        capsys.readouterr()
        assert transcribe_cli.main(args + ["--device", "cpu", str(wav)]) == 1
        out, err = capsys.readouterr()
        errors = [line for line in err.splitlines() if "ERROR" in line]
        assert out == "" and len(errors) == 1 and reason in errors[0], err


def test_default_windows_follow_the_method():
    from prefixasr.decode.runner import default_window

    assert default_window("llm_greedy") == default_window("llm_beam") == (10.0, 2.0)
    assert default_window("rnnt_greedy") == default_window("ctc_greedy") == (30.0, 5.0)


def test_the_method_is_the_systems_own_unless_named(system, tmp_path):
    """decode.method of the training config is what transcribe searches with when no --method is given."""
    import shutil

    import yaml

    from prefixasr import Transcriber

    exp = shutil.copytree(system[0], tmp_path / "exp")
    assert Transcriber.from_pretrained(exp, device="cpu").method == "llm_greedy"  # none set: the LLM's greedy
    cfg = yaml.safe_load((exp / "config.yaml").read_text(encoding="utf-8"))
    cfg["decode"]["method"] = "llm_beam"
    (exp / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    assert Transcriber.from_pretrained(exp, device="cpu").method == "llm_beam"
    assert Transcriber.from_pretrained(exp, device="cpu", method="rnnt_greedy").method == "rnnt_greedy"
