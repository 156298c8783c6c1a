"""Each encoder reads features of its own kind (issue 28): Whisper's log-mel as a lhotse extractor (stored or on the
fly), a frozen encoder's outputs cached once per cut (prefixasr.bin.cache_encoder) and an adapter trained on them
(model.encoder.type: adapter); features of another kind are refused with one line naming the cut and both kinds.
A tiny random Whisper (2 s window) stands in for Whisper base."""
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from lhotse.features.base import get_extractor_type
from lhotse.utils import compute_num_frames_from_samples

from prefixasr.bin import cache_encoder as cache_cli
from prefixasr.bin import compute_fbank as fbank_cli
from prefixasr.data.datamodule import AsrDataModule, unpack_batch
from prefixasr.data.features import check_feature_kind
from prefixasr.model.adapter import AdapterEncoder
from prefixasr.model.extractors import EncoderOutputs, WhisperLogMelExtractor, extractor_for
from prefixasr.model.hf_encoder import HfSpeechEncoder, WhisperLogMel
from test_train_fixtures import LANGS, LETTERS, make_corpus, system_config
from whisper_fixtures import write_tiny_whisper

torch.set_num_threads(1)
DURATIONS = (0.77, 1.3, 2.61, 1.0, 1.52, 0.9)  # 2.61 s: longer than the tiny Whisper's 2 s window
TICK = -8  # cache_encoder's default lilcom precision: within 2^-9


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    return write_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny")


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Cuts of 16 kHz audio: each letter its own tone, 0.1 s a letter, a little noise; texts of LETTERS."""
    root = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    cuts = []
    for i, dur in enumerate(DURATIONS):
        n = int(round(dur * 16000))
        text = "".join(rng.choice(list(LETTERS), size=max(2, int(dur * 4))))
        t = np.arange(n) / 16000
        freqs = np.repeat([300 + 150 * LETTERS.index(c) for c in text], n // len(text) + 1)[:n]
        wave = 0.3 * np.sin(2 * np.pi * freqs * t) + 0.01 * rng.standard_normal(n)
        sf.write(root / f"r{i}.wav", wave.astype(np.float32), 16000)
        rec = Recording.from_file(root / f"r{i}.wav", recording_id=f"r{i}")
        sup = SupervisionSegment(f"r{i}", f"r{i}", 0.0, rec.duration, text=text, language=LANGS[i % len(LANGS)])
        cuts.append(MonoCut(f"r{i}", 0.0, rec.duration, 0, recording=rec, supervisions=[sup]))
    CutSet.from_cuts(cuts).to_file(root / "cuts.jsonl.gz")
    return root / "cuts.jsonl.gz"


@pytest.fixture(scope="module")
def cached(whisper, audio, tmp_path_factory):
    """(output dir, cut set) of cache_encoder on `audio`: shards of about 1.5 s, batches of at most 4 s."""
    out = tmp_path_factory.mktemp("cache")
    assert cache_cli.main(["--encoder", str(whisper), "--cuts", str(audio), "--output-dir", str(out),
                           "--shard-duration", "1.5", "--batch-duration", "4"]) == 0
    return out, CutSet.from_file(out / "cuts.jsonl.gz").to_eager()


def _wave(cut) -> torch.Tensor:
    return torch.from_numpy(cut.load_audio()[0])


def test_whisper_logmel_extractor_is_whisper_logmel(audio, tmp_path):
    ext = WhisperLogMelExtractor()
    assert get_extractor_type("whisper-logmel") is WhisperLogMelExtractor and ext.frame_shift == 0.01
    for n in (16037, 16120):  # lhotse's frame count: 100 = N // 160, and 101 (N // 160 is 100: the last repeated)
        wave = torch.randn(n, generator=torch.Generator().manual_seed(n)) * 0.1
        ours, ref = ext.extract(wave.numpy(), 16000), WhisperLogMel(80)(wave).numpy()
        assert ours.shape == (compute_num_frames_from_samples(n, 0.01, 16000), 80)
        np.testing.assert_array_equal(ours[: len(ref)], ref)
        np.testing.assert_array_equal(ours[len(ref):], np.repeat(ref[-1:], len(ours) - len(ref), 0))
    # stored by the feature stage (lilcom, 2^-5 steps), and computed on the fly by the loader: both the extractor's
    out = tmp_path / "whisper_mel" / "cuts.jsonl.gz"
    assert fbank_cli.main(["--kind", "whisper_mel", "--cuts", str(audio), "--output-cuts", str(out),
                           "--num-jobs", "1"]) == 0
    stored = CutSet.from_file(out).to_eager()
    dm = AsrDataModule(max_duration=100, num_workers=0, on_the_fly_feats=True, world_size=1, rank=0,
                       extractor=ext, shuffle=False)
    batch = unpack_batch(next(iter(dm.test_dataloader(stored))))
    assert len(batch) == len(stored)
    for cut_id, feats, n in zip(batch.cut_ids, batch.features, batch.feature_lens.tolist()):
        cut = stored[cut_id]
        assert cut.features.type == "whisper-logmel" and n == cut.num_frames
        expected = ext.extract(cut.load_audio(), 16000)
        assert np.abs(cut.load_features() - expected).max() <= 2.0 ** -6 + 1e-6
        np.testing.assert_allclose(feats[:n].numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("on_the_fly", [False, True])
def test_whisper_fine_tunes_on_its_own_log_mel_stored_or_on_the_fly(whisper, audio, tmp_path, on_the_fly):
    from prefixasr.bin import train as train_cli

    cuts = audio  # no features: the loader computes Whisper's log-mel from the audio
    if not on_the_fly:
        cuts = tmp_path / "whisper_mel" / "cuts.jsonl.gz"
        assert fbank_cli.main(["--kind", "whisper_mel", "--cuts", str(audio), "--output-cuts", str(cuts),
                               "--num-jobs", "1"]) == 0
    corpus = make_corpus(tmp_path / "corpus", n_utts=3)  # its tokenizers and language map
    cfg = system_config(corpus, num_epochs=1, valid_cer_utts=2)
    cfg["data"].update(train_cuts=str(cuts), valid_cuts=str(cuts), max_duration_utt=2.0)  # the tiny window: 2 s
    cfg["data"]["loader"]["on_the_fly_feats"] = on_the_fly
    cfg["model"]["encoder"] = {"type": "hf", "path": str(whisper)}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    exp = tmp_path / "exp"
    assert train_cli.main(["--config", str(tmp_path / "c.yaml"), "--exp-dir", str(exp)]) == 0
    log = (exp / "train.log").read_text(encoding="utf-8")
    assert "pessimistic batch" in log and "step 2" in log and "dev CER on 2 utterances" in log


def test_cache_tool_stores_the_frozen_encoders_outputs(whisper, audio, cached, capfd):
    out, cuts = cached
    encoder = HfSpeechEncoder(whisper, 80).eval()
    assert [c.id for c in cuts] == [c.id for c in CutSet.from_file(audio)]  # the input's order
    for cut in cuts:
        f = cut.features
        assert (f.type, f.frame_shift, f.num_features, f.storage_type) == ("encoder:tiny", 0.02, 32, "lilcom_chunky")
        mel = encoder.frontend(_wave(cut))
        with torch.no_grad():  # the encoder alone on each 2 s window (the 2.61 s cut has two), joined
            ref = torch.cat([encoder(w[None], torch.tensor([len(w)]))[0][0] for w in mel.split(200)]).numpy()
        feats = cut.load_features()
        assert feats.shape[0] == ref.shape[0] == cut.num_frames == int(encoder.output_lengths(torch.tensor(len(mel))))
        assert np.abs(feats - ref).max() <= 2.0 ** (TICK - 1) + 1e-5
    shards = sorted((out / "cuts_feats").glob("shard-*.jsonl.gz"))
    assert len(shards) == 4 and not list((out / "cuts_feats").glob(".tmp*"))
    # an interrupted run: the last shard unfinished, the output manifest not written; the rerun does only that shard
    first = {p.name: p.stat().st_mtime_ns for p in (out / "cuts_feats").glob("shard-*")}
    shards[-1].unlink()
    (out / "cuts.jsonl.gz").unlink()
    capfd.readouterr()
    assert cache_cli.main(["--encoder", str(whisper), "--cuts", str(audio), "--output-dir", str(out),
                           "--shard-duration", "1.5", "--batch-duration", "4"]) == 0
    log = capfd.readouterr().err  # the tool's log lines (prefixasr.common.setup_logging: stderr)
    assert "4 shards (3 done already)" in log and "shard 4/4:" in log and "x real time, ETA" in log
    again = {p.name: p.stat().st_mtime_ns for p in (out / "cuts_feats").glob("shard-*")}
    assert sorted(k for k in first if again[k] != first[k]) == ["shard-00003.jsonl.gz", "shard-00003.lca"]
    for a, b in zip(cuts, CutSet.from_file(out / "cuts.jsonl.gz")):
        np.testing.assert_array_equal(a.load_features(), b.load_features())
    # other cuts into the same shards: refused, not mixed
    (out / "cuts.jsonl.gz").unlink()
    other = out / "other" / "cuts.jsonl.gz"
    other.parent.mkdir()
    CutSet.from_file(audio).subset(first=3).to_file(other)
    assert cache_cli.main(["--encoder", str(whisper), "--cuts", str(other), "--output-dir", str(out)]) == 1
    assert "holds shards of other cuts or settings (differs in cuts, num_cuts, shards)" in capfd.readouterr().err
    assert cache_cli.main(["--encoder", str(whisper), "--cuts", str(audio), "--output-dir", str(out),
                           "--shard-duration", "1.5"]) == 0  # every shard done: the manifest written again


def test_cache_tool_in_parallel_equals_one_process(whisper, audio, cached, tmp_path):
    assert cache_cli.main(["--encoder", str(whisper), "--cuts", str(audio), "--output-dir", str(tmp_path),
                           "--shard-duration", "3", "--num-jobs", "2", "--name", "tiny"]) == 0
    for a, b in zip(cached[1], CutSet.from_file(tmp_path / "cuts.jsonl.gz")):
        assert a.id == b.id and np.abs(a.load_features() - b.load_features()).max() <= 2.0 ** TICK


def test_adapter_lengths_strides_and_batches_like_its_items():
    torch.manual_seed(0)
    feats, lens = torch.randn(3, 13, 24), torch.tensor([13, 8, 5])
    for stride, out_lens in ((1, [13, 8, 5]), (2, [7, 4, 3])):
        adapter = AdapterEncoder("encoder:x", 24, d_model=16, num_layers=1, num_heads=2, ffn_dim=32,
                                 kernel_size=3, stride=stride).eval()
        assert (adapter.subsampling_factor, adapter.input_kind, adapter.d_model) == (stride, "encoder:x", 16)
        with torch.no_grad():
            out, olens = adapter(feats, lens)
        assert olens.tolist() == out_lens == adapter.output_lengths(lens).tolist() and out.shape[1] == out_lens[0]
        for i in range(3):
            with torch.no_grad():
                alone, _ = adapter(feats[i:i + 1, : lens[i]], lens[i:i + 1])
            assert torch.allclose(alone[0], out[i, : out_lens[i]], atol=1e-5)
            assert float(out[i, out_lens[i]:].abs().sum()) == 0.0
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        AdapterEncoder("encoder:x", 24, stride=4)


def test_features_of_another_kind_are_refused(whisper, cached, tmp_path):
    _, cuts = cached
    corpus = make_corpus(tmp_path / "corpus", n_utts=3)  # Kaldi fbank-like features, type "fbank"
    fbank_cut = next(iter(CutSet.from_file(corpus["cuts"])))
    whisper_enc = HfSpeechEncoder(whisper, 80)
    with pytest.raises(ValueError, match=r"^cut utt000 has features of type 'fbank' but the encoder reads "
                                         r"'whisper-logmel' \(input kind whisper_mel\): compute them with "
                                         r"python -m prefixasr.bin.compute_fbank --kind whisper_mel$"):
        check_feature_kind(CutSet.from_file(corpus["cuts"]), whisper_enc)
    adapter = AdapterEncoder("encoder:whisper-base", 32)
    with pytest.raises(ValueError, match="^cut r0 has features of type 'encoder:tiny' but the encoder reads "
                                         "'encoder:whisper-base' .*cache_encoder --name whisper-base"):
        check_feature_kind(cuts, adapter)
    with pytest.raises(ValueError, match="^cut r0 has 32-dim 'encoder:tiny' features but the encoder reads 512-dim"):
        check_feature_kind(next(iter(cuts)), AdapterEncoder("encoder:tiny", 512))
    check_feature_kind(cuts, AdapterEncoder("encoder:tiny", 32))
    check_feature_kind(fbank_cut, type("Conformer", (), {"input_kind": "fbank"})())
    check_feature_kind(fbank_cut, whisper_enc, on_the_fly=True)  # the loader makes its own log-mel from audio
    with pytest.raises(ValueError, match="on_the_fly_feats: the encoder reads 'encoder:tiny'"):
        check_feature_kind(cuts, AdapterEncoder("encoder:tiny", 32), on_the_fly=True)
    assert isinstance(extractor_for(whisper_enc), WhisperLogMelExtractor)
    on_the_fly = extractor_for(AdapterEncoder("encoder:tiny", 32, source_path=str(whisper)))
    assert isinstance(on_the_fly, EncoderOutputs) and on_the_fly.name == "encoder:tiny"
    # the trainer checks before the first batch
    from prefixasr.bin import train as train_cli

    cfg = system_config(corpus, num_epochs=1)
    cfg["model"]["encoder"] = {"type": "hf", "path": str(whisper)}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    with pytest.raises(ValueError, match="^cut utt000 has features of type 'fbank' but the encoder reads "
                                         "'whisper-logmel'"):
        train_cli.main(["--config", str(tmp_path / "c.yaml"), "--exp-dir", str(tmp_path / "exp")])


def test_adapter_trains_on_cached_outputs_and_decodes(whisper, cached, tmp_path):
    from prefixasr.bin import decode as decode_cli
    from prefixasr.bin import train as train_cli
    from prefixasr.model import load_model

    out, cuts = cached
    corpus = make_corpus(tmp_path / "corpus", n_utts=3)  # its tokenizers and language map
    cfg = system_config(corpus, num_epochs=1, valid_cer_utts=2)
    cfg["data"].update(train_cuts=str(out / "cuts.jsonl.gz"), valid_cuts=str(out / "cuts.jsonl.gz"))
    cfg["model"]["input_dim"] = 32
    cfg["model"]["encoder"] = {"type": "adapter", "path": str(whisper), "d_model": 32, "num_layers": 1,
                               "num_heads": 2, "ffn_dim": 64, "kernel_size": 5, "pos_enc": "none", "xscale": False,
                               "adapter": {"stride": 2}}  # input: the directory's name, "tiny"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    exp = tmp_path / "exp"
    assert train_cli.main(["--config", str(tmp_path / "c.yaml"), "--exp-dir", str(exp)]) == 0
    log = (exp / "train.log").read_text(encoding="utf-8")
    assert "dev CER" in log and "audio-s/s" in log
    history = json.loads((exp / "history.json").read_text(encoding="utf-8"))
    assert history[0]["step"] >= 2 and math.isfinite(history[0]["train_ce"])
    loaded = load_model(exp)
    enc = loaded.model.encoder
    assert isinstance(enc, AdapterEncoder) and (enc.input_kind, enc.subsampling_factor) == ("encoder:tiny", 2)
    assert enc.source_path == str(whisper.resolve())
    assert decode_cli.main(["--exp-dir", str(exp), "--cuts", str(out / "cuts.jsonl.gz"), "--method", "llm_greedy",
                            "--decode-dir", str(tmp_path / "dec"), "--no-score", "--device", "cpu"]) == 0
    hyps = (tmp_path / "dec" / "text").read_text(encoding="utf-8").splitlines()
    assert sorted(line.split()[0] for line in hyps) == sorted(c.id for c in cuts)


def test_a_packed_adapter_carries_its_frozen_encoder(whisper, cached, tmp_path, capsys):
    """pack embeds the frozen encoder (transcribe runs it on new audio): the archive works with the directory the
    system was trained with gone, and transcribes a file as the decode tool decodes its cached outputs."""
    import shutil

    from prefixasr.bin import decode as decode_cli
    from prefixasr.bin import pack as pack_cli
    from prefixasr.bin import train as train_cli
    from prefixasr.bin import transcribe as transcribe_cli
    from prefixasr.inference.pack import load_packed
    from prefixasr.inference.archive import extract_archive

    out, cuts = cached
    moved = tmp_path / "tiny"  # the adapter's input is named by the directory: "tiny", as the cache's
    shutil.copytree(whisper, moved)
    corpus = make_corpus(tmp_path / "corpus", n_utts=3)
    cfg = system_config(corpus, num_epochs=1, valid_cer_utts=0)
    cfg["data"].update(train_cuts=str(out / "cuts.jsonl.gz"), valid_cuts=str(out / "cuts.jsonl.gz"))
    cfg["model"]["input_dim"] = 32
    cfg["model"]["encoder"] = {"type": "adapter", "path": str(moved), "d_model": 32, "num_layers": 1,
                               "num_heads": 2, "ffn_dim": 64, "kernel_size": 5, "pos_enc": "none", "xscale": False,
                               "adapter": {"stride": 2}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    exp, model = tmp_path / "exp", tmp_path / "model.tar.gz"
    assert train_cli.main(["--config", str(tmp_path / "c.yaml"), "--exp-dir", str(exp)]) == 0
    assert pack_cli.main(["--exp-dir", str(exp), "--out", str(model)]) == 0
    shutil.rmtree(moved)
    unpacked = tmp_path / "unpacked"
    extract_archive(model, unpacked)
    assert "frozen encoder" in (unpacked / "MODEL_CARD.md").read_text(encoding="utf-8")
    loaded = load_packed(unpacked)
    assert loaded.model.encoder.source_path == str(unpacked / "frozen_encoder")
    cut = cuts[2]  # 2.61 s: two of the tiny Whisper's windows
    wav = tmp_path / "one.wav"
    sf.write(wav, cut.load_audio()[0], 16000)
    one = tmp_path / "one_cuts.jsonl.gz"
    CutSet.from_cuts([cut]).to_file(one)
    assert decode_cli.main(["--exp-dir", str(exp), "--cuts", str(one), "--method", "rnnt_greedy", "--langid", "oracle",
                            "--decode-dir", str(tmp_path / "dec"), "--no-score", "--device", "cpu"]) == 0
    ref = (tmp_path / "dec" / "text").read_text(encoding="utf-8").split(maxsplit=1)[1:]
    capsys.readouterr()
    lang = cut.supervisions[0].language
    assert transcribe_cli.main(["--model", str(model), "--method", "rnnt_greedy", "--lang", lang, "--device", "cpu",
                                str(wav)]) == 0
    text = capsys.readouterr().out.rstrip("\n").split("\t")[-1]
    assert text == (ref[0].strip() if ref else "")


def test_augmented_copies_are_cached_like_their_clean_cuts(whisper, audio, cached, tmp_path):
    """--augment: a mixed copy (noise) is cached as a MonoCut of the mix's outputs without audio (lhotse's
    mix_eagerly), a reverberated one as its cut; both as long as the clean cut, other values, the same words."""
    out = tmp_path / "aug"
    assert cache_cli.main(["--encoder", str(whisper), "--cuts", str(audio), "--output-dir", str(out),
                           "--augment", "noise", "reverb"]) == 0
    cuts = CutSet.from_file(out / "cuts.jsonl.gz").to_eager()
    clean = {c.id: c for c in cached[1]}
    assert len(cuts) == 3 * len(clean)
    for cut_id, ref in clean.items():
        for copy in (cuts[f"{cut_id}_noise"], cuts[f"{cut_id}_rvb"]):
            assert copy.features.type == ref.features.type and copy.num_frames == ref.num_frames
            assert [s.text for s in copy.supervisions] == [s.text for s in ref.supervisions]
            # the same audio stored twice differs by at most 2 x 2^-9 (lilcom rounding); the tiny random Whisper is
            # nearly deaf, so its outputs differ little
            assert np.abs(copy.load_features() - ref.load_features()).max() > 4 * 2.0 ** -9
        assert not cuts[f"{cut_id}_noise"].has_recording


def test_cache_tool_help_explains_every_option():
    assert "Usage:" in cache_cli.__doc__ and "--output-dir" in cache_cli.__doc__
    for action in cache_cli.get_parser()._actions:
        assert action.help, f"option {action.option_strings} has no help"
