"""prefixasr.bin.convert_llm: a GGUF causal LM into a local HF directory, its tokenizer built or reused.

transformers' own GGUF reader is not under test: it stands in here as a tiny random Gemma 3 read from an HF
directory, so what is tested is ours (the reused tokenizer and its size check, the directory it writes)."""
import json

import pytest
import torch
import transformers
from safetensors.torch import load_file

from hf_llm_fixtures import write_tiny_llm
from prefixasr.bin import convert_llm

TEXTS = ["नमस्ते दुनिया", "আমি বাংলায় গান গাই", "வணக்கம் உலகம்"] * 8


@pytest.fixture()
def gguf_stand_in(tmp_path, monkeypatch):
    """A tiny Gemma 3 directory and a 'GGUF' file whose weights, as transformers would read them, are that model's."""
    src = write_tiny_llm("gemma3", tmp_path / "src", TEXTS)
    gguf = tmp_path / "downloads" / "tiny.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF stand-in")
    read = transformers.AutoModelForCausalLM.from_pretrained

    def from_gguf(path, gguf_file=None, **kwargs):
        assert gguf_file == gguf.name
        return read(str(src), **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", staticmethod(from_gguf))
    return src, gguf


def test_reuses_a_converted_tokenizer(tmp_path, gguf_stand_in):
    src, gguf = gguf_stand_in
    out = convert_llm.convert(gguf, tmp_path / "out", tokenizer_dir=src)
    source = json.loads((out / "source.json").read_text())
    assert source["gguf"] == "tiny.gguf" and source["vocab_size"] == len(transformers.AutoTokenizer.from_pretrained(src))
    assert (out / "tokenizer.json").read_text() == (src / "tokenizer.json").read_text()
    assert transformers.AutoConfig.from_pretrained(out).vocab_size == source["vocab_size"]
    written, original = load_file(out / "model.safetensors"), load_file(src / "model.safetensors")
    assert written.keys() == original.keys()
    assert all(torch.equal(written[k], original[k]) for k in written)


def test_refuses_another_models_tokenizer(tmp_path, gguf_stand_in):
    _, gguf = gguf_stand_in
    other = write_tiny_llm("qwen2", tmp_path / "qwen", TEXTS)  # 300 entries, not the tiny Gemma's 120
    with pytest.raises(ValueError, match="another model's"):
        convert_llm.convert(gguf, tmp_path / "out", tokenizer_dir=other)
    assert not (tmp_path / "out").exists()
