"""Tokenizer: sentencepiece with reserved ids, and a Hugging Face tokenizer dir behind the same interface."""
from pathlib import Path

import pytest

from prefixasr.data.text import normalize_text
from prefixasr.data.tokenizer import Tokenizer, train_sentencepiece

FIXTURE = Path(__file__).parent / "fixtures" / "data" / "sentences.tsv"


def _texts():
    out = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            lang, text = line.split("\t")
            out.append(normalize_text(text, lang))
    return out


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_reserved_ids_and_round_trip(tmp_path, model_type):
    texts = _texts()
    (tmp_path / "lm.txt").write_text("\n".join(texts * 3) + "\n", encoding="utf-8")
    model = train_sentencepiece([tmp_path / "lm.txt"], tmp_path / "lang" / "spm", vocab_size=300,
                                model_type=model_type)
    tok = Tokenizer.load(model)
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.id_to_piece(0) == "<blk>"
    assert tok.kind == "sentencepiece" and tok.vocab_size > 4
    for t in texts:
        ids = tok.encode(t)
        assert ids and min(ids) >= 4, t  # specials never appear inside ordinary text
        assert tok.decode(ids) == t
        assert tok.decode([tok.bos_id] + ids + [tok.eos_id, 0]) == t


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer not found"):
        Tokenizer.load(tmp_path / "nope.model")


def test_hf_tokenizer_dir(tmp_path):
    import tokenizers  # installed with transformers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in _texts() for w in t.split()})
    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, **{w: i + 4 for i, w in enumerate(words)}}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    backend.decoder = tokenizers.decoders.WordPiece(prefix="##")  # joins words with spaces
    hf = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                                 bos_token="<s>", eos_token="</s>")
    hf.save_pretrained(tmp_path / "hf")
    tok = Tokenizer.load(tmp_path / "hf")
    assert tok.kind == "hf"
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.vocab_size == len(vocab)
    t = _texts()[0]
    ids = tok.encode(t)
    assert ids == [vocab[w] for w in t.split()]
    assert tok.decode(ids + [tok.eos_id]) == t
