"""The CTranslate2 Whisper reader (prefixasr.model.whisper_ct2): a tiny random HF Whisper, converted by ctranslate2's
own converter, read back into the PyTorch encoder, which must compute what `ctranslate2`'s `encode` computes (on
inputs shorter than the window too) and what the original HF encoder computes."""
import os

import ctranslate2  # pinned in tools/requirements.txt: this test never skips
import numpy as np
import pytest
import torch

from prefixasr.model import build_model, whisper_ct2
from prefixasr.model.hf_encoder import HfSpeechEncoder
from test_model_fixtures import NUM_LANGS, VOCAB, tiny_config

torch.set_num_threads(1)
WINDOW = 200  # mel frames: 2 x max_source_positions


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    """(HF Whisper's encoder, its HF dir, the CTranslate2 dirs: float32, float16, int8)."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    root = tmp_path_factory.mktemp("whisper")
    torch.manual_seed(0)
    conf = WhisperConfig(vocab_size=60, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
                         encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                         decoder_ffn_dim=128, max_source_positions=WINDOW // 2, max_target_positions=16,
                         pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=0)
    model = WhisperForConditionalGeneration(conf).eval()
    with torch.no_grad():  # every weight random (HF initialises biases to 0, norms to 1) ...
        for name, p in model.named_parameters():
            p.normal_(1.0 if "layer_norm.weight" in name else 0.0, 0.2)
        # ... but one layer norm equal to another's: CTranslate2 stores it once, the other names it (an alias)
        enc = model.model.encoder
        enc.layers[1].final_layer_norm.load_state_dict(enc.layers[0].final_layer_norm.state_dict())
    model.save_pretrained(root / "hf")
    dirs = {}
    for quant in ("float32", "float16", "int8"):
        dirs[quant] = root / f"ct2-{quant}"
        ctranslate2.converters.TransformersConverter(str(root / "hf")).convert(str(dirs[quant]), quantization=quant)
    return enc, root / "hf", dirs


def _ct2_encode(ct2_dir, mel: torch.Tensor) -> torch.Tensor:
    """ctranslate2's own encoder output of (B, T, 80) features (it reads (B, 80, T)), computed in float32."""
    model = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32", intra_threads=1)
    out = model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.transpose(1, 2).numpy())),
                       to_cpu=True)
    return torch.from_numpy(np.array(out))


@pytest.mark.parametrize("quant", ["float32", "float16"])
def test_ct2_whisper_encodes_as_ctranslate2_and_hf(whisper, quant):
    reference, _, dirs = whisper
    model_bin = whisper_ct2.ModelBin(dirs[quant] / "model.bin")
    assert model_bin.header.spec == "WhisperSpec" and model_bin.header.version == 6
    assert model_bin.aliases["encoder/layer_1/ffn/layer_norm/gamma"] == "encoder/layer_0/ffn/layer_norm/gamma"
    stored = torch.float32 if quant == "float32" else torch.float16
    assert model_bin.load("encoder/conv1/weight")["encoder/conv1/weight"].dtype == stored
    conf, encoder = whisper_ct2.load_encoder(dirs[quant])
    assert (conf.d_model, conf.encoder_layers, conf.encoder_attention_heads, conf.max_source_positions,
            conf.decoder_layers, conf.vocab_size) == (64, 2, 4, WINDOW // 2, 2, 60)
    for name, w in reference.state_dict().items():  # the weights, to the bit (fp16: HF's rounded to fp16)
        want = w if quant == "float32" else w.half().float()
        assert torch.equal(encoder.state_dict()[name], want), name

    wrapped = HfSpeechEncoder(dirs[quant], 80).eval()  # model.encoder.path: the CTranslate2 dir itself
    g = torch.Generator().manual_seed(1)
    mel = torch.randn(2, WINDOW, 80, generator=g)
    with torch.no_grad():
        ours, lens = wrapped(mel, torch.tensor([WINDOW, WINDOW]))
        # the full window: HF's own forward, which insists on it
        hf = (reference if quant == "float32" else encoder)(mel.transpose(1, 2)).last_hidden_state
        assert torch.allclose(ours, hf, atol=1e-5), float((ours - hf).abs().max())
        assert torch.allclose(ours, _ct2_encode(dirs[quant], mel), atol=1e-4)
        # shorter than the window, an odd length, in a batch with a longer one: positions sliced, not padded
        short, short_lens = wrapped(mel, torch.tensor([WINDOW, 137]))
        assert short_lens.tolist() == [WINDOW // 2, 69]
        alone = _ct2_encode(dirs[quant], mel[1:, :137])
        assert alone.shape == (1, 69, 64)
        assert torch.allclose(short[1, :69], alone[0], atol=1e-4), float((short[1, :69] - alone[0]).abs().max())


def test_int8_weights_are_read_back_within_their_quantisation_step(whisper):
    reference, _, dirs = whisper
    _, encoder = whisper_ct2.load_encoder(dirs["int8"])
    for name in ("layers.0.fc1.weight", "layers.1.self_attn.q_proj.weight", "conv1.weight"):
        w, got = reference.state_dict()[name], encoder.state_dict()[name]
        step = w.abs().reshape(w.size(0), -1).amax(1) / 127  # CTranslate2's int8: one scale per output row
        assert ((got - w).abs().reshape(w.size(0), -1) <= step[:, None] / 2 + 1e-6).all(), name
        assert not torch.equal(got, w)


def test_conversion_is_cached_and_redone_when_the_model_changes(whisper, tmp_path, caplog):
    import shutil

    _, _, dirs = whisper
    ct2_dir = tmp_path / "faster-whisper-tiny"
    shutil.copytree(dirs["float16"], ct2_dir)
    assert whisper_ct2.is_ct2_dir(ct2_dir) and not whisper_ct2.is_ct2_dir(whisper[1])
    out = whisper_ct2.hf_dir(ct2_dir)
    assert out == tmp_path / "faster-whisper-tiny-hf" and (out / "model.safetensors").is_file()
    first = (out / "model.safetensors").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level("INFO"):
        assert whisper_ct2.hf_dir(ct2_dir) == out  # up to date: reused
    assert "converted" not in caplog.text and (out / "model.safetensors").stat().st_mtime_ns == first
    st = (ct2_dir / "model.bin").stat()
    os.utime(ct2_dir / "model.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with caplog.at_level("INFO"):
        cached = whisper_ct2.hf_dir(ct2_dir, cache_dir=tmp_path / "cache")
        assert cached == tmp_path / "cache" / "faster-whisper-tiny-hf"
        assert whisper_ct2.hf_dir(ct2_dir) == out  # the old conversion is out of date: redone, atomically
    assert caplog.text.count("converted") == 2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == \
        ["cache", "faster-whisper-tiny", "faster-whisper-tiny-hf"]  # no temporary directory left

    model = build_model(tiny_config(encoder={"type": "hf", "path": str(ct2_dir)}), VOCAB, NUM_LANGS)
    assert model.encoder.input_kind == "whisper_mel" and model.encoder.subsampling_factor == 2
    assert model.encoder.d_model == 64


def test_bad_model_files_are_named(tmp_path, whisper):
    data = (whisper[2]["float32"] / "model.bin").read_bytes()
    bad = tmp_path / "model.bin"
    bad.write_bytes(data[:5000])
    with pytest.raises(ValueError, match=f"{bad}: truncated CTranslate2 model file"):
        whisper_ct2.ModelBin(bad)
    bad.write_bytes((5).to_bytes(4, "little") + data[4:])
    with pytest.raises(ValueError, match=f"{bad}: CTranslate2 binary version 5; this reader knows version 6"):
        whisper_ct2.read_header(bad)
    with pytest.raises(FileNotFoundError, match="is .* a CTranslate2 model directory"):
        whisper_ct2.load_encoder(tmp_path / "nowhere")
