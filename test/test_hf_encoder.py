"""A pretrained Hugging Face speech encoder by path (model.encoder.type=hf): small randomly initialised
Speech2Text, Whisper, wav2vec2 and w2v-BERT encoders written to disk stand in for real ones (no hub is reachable).
Each reads its own input (`input_kind`): Whisper its log-mel, unpadded; wav2vec2 waveforms; the others fbank."""
import pytest
import torch
import yaml

from prefixasr.bin import train as train_cli
from prefixasr.model import build_model, load_model
from prefixasr.model.hf_encoder import HfSpeechEncoder, WhisperLogMel
from test_model_fixtures import NUM_LANGS, VOCAB, fake_batch, tiny_config
from test_train_fixtures import make_corpus, system_config

torch.set_num_threads(1)


def _write_encoder(tmp_path, kind: str):
    from transformers import Speech2TextConfig, Speech2TextModel, WhisperConfig, WhisperModel

    torch.manual_seed(0)
    small = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                 decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=50,
                 pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=0)
    if kind == "whisper":
        model = WhisperModel(WhisperConfig(num_mel_bins=80, max_source_positions=100, max_target_positions=20, **small))
    else:
        model = Speech2TextModel(Speech2TextConfig(input_feat_per_channel=80, conv_channels=16,
                                                   max_source_positions=400, max_target_positions=20, **small))
    path = tmp_path / kind
    model.save_pretrained(path)
    return path, model.get_encoder().eval()


@pytest.mark.parametrize("kind", ["speech_to_text", "whisper"])
def test_hf_encoder_loads_by_path_and_batches_like_single(tmp_path, kind):
    path, reference = _write_encoder(tmp_path, kind)
    model = build_model(tiny_config(encoder={"type": "hf", "path": str(path)}), VOCAB, NUM_LANGS).eval()
    for name, tensor in reference.state_dict().items():  # the weights on disk, not a fresh init
        assert torch.equal(model.encoder.body.state_dict()[name], tensor), name
    assert (model.encoder.input_kind, model.encoder.subsampling_factor) == \
        (("whisper_mel", 2) if kind == "whisper" else ("fbank", 4))
    feats, lens, targets, lang = fake_batch()
    with torch.no_grad():
        enc, enc_lens = model.encoder(feats, lens)
        assert enc.size(-1) == 32 and torch.equal(enc_lens, model.encoder.output_lengths(lens))
        for i in range(3):
            alone, _ = model.encoder(feats[i:i + 1, : lens[i]], lens[i:i + 1])
            # Speech2Text's convolutions (as in HF itself) let the padding's bias reach the last frame, and
            # attention spreads a trace of it
            n, tol = (int(enc_lens[i]) - 1, 2e-3) if kind == "speech_to_text" else (int(enc_lens[i]), 1e-5)
            assert torch.allclose(alone[0, :n], enc[i, :n], atol=tol)
            assert float(enc[i, enc_lens[i]:].abs().sum()) == 0.0
    loss, _ = model.train()(feats, lens, targets, lang, step=1)
    loss.backward()
    assert model.encoder.body.layers[0].fc1.weight.grad.abs().sum() > 0


def test_hf_encoder_trains_decodes_and_reloads_from_the_experiment_dir(tmp_path):
    path, _ = _write_encoder(tmp_path, "speech_to_text")
    corpus = make_corpus(tmp_path / "corpus", n_utts=8)
    cfg = system_config(corpus, num_epochs=1)
    cfg["model"]["encoder"] = {"type": "hf", "path": str(path)}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    exp = tmp_path / "exp"
    assert train_cli.main(["--config", str(tmp_path / "c.yaml"), "--exp-dir", str(exp)]) == 0
    assert (exp / "encoder_config" / "config.json").is_file()
    path.joinpath("model.safetensors").unlink()  # decoding must not need the original encoder
    loaded = load_model(exp)
    trained = torch.load(exp / "epoch-1.pt", weights_only=False)["model"]
    assert all(torch.equal(v, trained[k]) for k, v in loaded.model.state_dict().items())


def test_whisper_reads_windows_shorter_than_30s_unpadded(tmp_path):
    path, reference = _write_encoder(tmp_path, "whisper")  # a 200-frame window (max_source_positions 100)
    enc = HfSpeechEncoder(path, 80).eval()
    mel = torch.randn(1, 200, 80)
    with torch.no_grad():  # the whole window: HF's own forward, which insists on it
        assert torch.allclose(enc(mel, torch.tensor([200]))[0], reference(mel.transpose(1, 2)).last_hidden_state,
                              atol=1e-5)
        out, lens = enc(mel[:, :77], torch.tensor([77]))  # 0.77 s: 39 frames, no padding to the window
    assert out.shape == (1, 39, 32) and lens.tolist() == [39]
    with pytest.raises(ValueError, match="201 feature frames exceed the Whisper encoder's window of 200 .*--window"):
        enc(torch.randn(1, 201, 80), torch.tensor([201]))
    mel = enc.frontend(torch.randn(16000))  # its own front end: 1 s of waveform, 100 frames of log-mel
    assert mel.shape == (100, 80) and enc(mel[None], torch.tensor([100]))[0].shape == (1, 50, 32)


def test_whisper_log_mel_is_the_feature_extractors():
    from transformers import WhisperFeatureExtractor

    wave = torch.randn(16000 * 2 + 37, generator=torch.Generator().manual_seed(0)) * 0.1
    ours = WhisperLogMel(80)(wave)
    fe = WhisperFeatureExtractor(feature_size=80)
    unpadded = fe(wave.numpy(), sampling_rate=16000, padding="longest", return_tensors="pt").input_features[0].T
    assert ours.shape == (200, 80) and torch.allclose(ours, unpadded, atol=1e-5)
    # padded to 30 s, as Whisper was trained: the same frames but the last two (they see the padding's zeros)
    padded = fe(wave.numpy(), sampling_rate=16000, return_tensors="pt").input_features[0].T
    assert torch.allclose(ours[:-2], padded[:198], atol=1e-5) and len(WhisperLogMel().state_dict()) == 0


def test_waveform_and_w2v_bert_encoders_read_their_own_input(tmp_path):
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel, Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    # layer-normalised convolutions (wav2vec2-large, XLS-R, MMS): HF masks the padding, a batch equals its items
    Wav2Vec2Model(Wav2Vec2Config(feat_extract_norm="layer", do_stable_layer_norm=True, conv_dim=(16,) * 7,
                                 num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, **small)
                  ).save_pretrained(tmp_path / "w2v")
    Wav2Vec2BertModel(Wav2Vec2BertConfig(output_hidden_size=32, **small)).save_pretrained(tmp_path / "w2v-bert")
    for name, kind, factor, x, lens in [
            ("w2v", "waveform", 320, torch.randn(2, 16000), torch.tensor([16000, 9000])),
            ("w2v-bert", "fbank", 2, torch.randn(2, 200, 80), torch.tensor([200, 151]))]:
        model = build_model(tiny_config(encoder={"type": "hf", "path": str(tmp_path / name)}), VOCAB, NUM_LANGS)
        enc = model.encoder.eval()
        assert (enc.input_kind, enc.subsampling_factor, enc.d_model) == (kind, factor, 32)
        with torch.no_grad():
            out, out_lens = enc(x, lens)
            alone, alone_lens = enc(x[1:, : lens[1]], lens[1:])
        n = int(out_lens[1])
        assert torch.equal(out_lens, enc.output_lengths(lens)) and alone_lens.tolist() == [n]
        assert torch.allclose(alone[0, :n], out[1, :n], atol=1e-5) and float(out[1, n:].abs().sum()) == 0.0
    assert out_lens.tolist() == [100, 75]


def test_other_models_and_wrong_feature_sizes_are_refused(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="is a 'bert' model, not a speech encoder"):
        build_model(tiny_config(encoder={"type": "hf", "path": str(tmp_path / "bert")}), VOCAB, NUM_LANGS)
    path, _ = _write_encoder(tmp_path, "whisper")
    with pytest.raises(ValueError, match="reads 80-dim features but model.input_dim is 40"):
        build_model(tiny_config(encoder={"type": "hf", "path": str(path)}, input_dim=40), VOCAB, NUM_LANGS)
    with pytest.raises(ValueError, match="needs model.encoder.path"):
        build_model(tiny_config(encoder={"type": "hf"}), VOCAB, NUM_LANGS)
