"""A pretrained Hugging Face speech encoder by path (model.encoder.type=hf): small randomly initialised
Speech2Text and Whisper encoders written to disk stand in for real ones (no hub is reachable)."""
import pytest
import torch
import yaml

from prefixasr.bin import train as train_cli
from prefixasr.model import build_model, load_model
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
    feats, lens, targets, lang = fake_batch()
    with torch.no_grad():
        enc, enc_lens = model.encoder(feats, lens)
        assert enc.size(-1) == 32 and torch.equal(enc_lens, model.encoder.output_lengths(lens))
        for i in range(3):
            alone, _ = model.encoder(feats[i:i + 1, : lens[i]], lens[i:i + 1])
            # Speech2Text's convolutions (as in HF itself) let the padding's bias reach the last frame, and
            # attention spreads a trace of it
            n, tol = (int(enc_lens[i]) - 1, 2e-3) if kind == "speech_to_text" else (int(enc_lens[i]), 1e-4)
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


def test_waveform_encoders_and_wrong_feature_sizes_are_refused(tmp_path):
    from transformers import Wav2Vec2Config

    Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path / "w2v")
    with pytest.raises(ValueError, match="wav2vec2.*raw-waveform"):
        build_model(tiny_config(encoder={"type": "hf", "path": str(tmp_path / "w2v")}), VOCAB, NUM_LANGS)
    path, _ = _write_encoder(tmp_path, "whisper")
    with pytest.raises(ValueError, match="reads 80-dim features but model.input_dim is 40"):
        build_model(tiny_config(encoder={"type": "hf", "path": str(path)}, input_dim=40), VOCAB, NUM_LANGS)
    with pytest.raises(ValueError, match="needs model.encoder.path"):
        build_model(tiny_config(encoder={"type": "hf"}), VOCAB, NUM_LANGS)
