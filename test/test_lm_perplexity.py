"""prefixasr.bin.lm_perplexity: per-language held-out perplexity of any HF causal LM by path (here a tiny random
Qwen2 with a word-level HF tokenizer, built offline), equal to the LM's own loss, whatever the batching."""
import json
import math

import pytest
import torch
from lhotse import CutSet
from lhotse import SupervisionSegment
from lhotse.testing.dummies import dummy_cut

from prefixasr.bin import lm_perplexity

TEXTS = {"hi": ["क ख ग", "ख ग घ ङ क", "ग"], "ta": ["அ ஆ இ ஈ", "இ அ"]}


@pytest.fixture()
def lm_dir(tmp_path):
    import tokenizers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    words = sorted({w for texts in TEXTS.values() for t in texts for w in t.split()})
    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, **{w: i + 4 for i, w in enumerate(words)}}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                            eos_token="</s>").save_pretrained(tmp_path / "lm")
    conf = AutoConfig.for_model("qwen2", vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, num_key_value_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(conf).save_pretrained(tmp_path / "lm")
    return tmp_path / "lm"


def _cuts(tmp_path):
    cuts, i = [], 0
    for lang, texts in TEXTS.items():
        for t in texts:
            cuts.append(dummy_cut(i, supervisions=[SupervisionSegment(f"s{i}", f"r{i}", 0, 1, text=t, language=lang)]))
            i += 1
    cuts.append(dummy_cut(i, supervisions=[SupervisionSegment(f"s{i}", f"r{i}", 0, 1, text="", language="hi")]))  # skipped
    path = tmp_path / "dev_cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def _reference_ppl(lm_dir, texts):
    from transformers import AutoModelForCausalLM

    from prefixasr.data.tokenizer import Tokenizer

    tok, llm = Tokenizer.load(lm_dir), AutoModelForCausalLM.from_pretrained(str(lm_dir)).eval()
    nll, n = 0.0, 0
    for t in texts:  # one sentence at a time: no padding at all
        ids = torch.tensor([[tok.bos_id, *tok.encode(t), tok.eos_id]])
        with torch.no_grad():
            nll += float(llm(input_ids=ids, labels=ids).loss) * (ids.size(1) - 1)
        n += ids.size(1) - 1
    return math.exp(nll / n), n


def test_per_language_perplexity_matches_the_lm_loss(tmp_path, lm_dir):
    out = tmp_path / "ppl.json"
    assert lm_perplexity.main(["--lm", str(lm_dir), "--tokenizer", str(lm_dir), "--cuts", str(_cuts(tmp_path)),
                               "--output", str(out), "--batch-size", "2"]) == 0
    js = json.loads(out.read_text(encoding="utf-8"))
    assert js["skipped"] == 1 and sorted(js["per_lang"]) == ["hi", "ta"]
    for lang, texts in TEXTS.items():
        ppl, tokens = _reference_ppl(lm_dir, texts)
        assert js["per_lang"][lang]["tokens"] == tokens and js["per_lang"][lang]["sentences"] == len(texts)
        assert js["per_lang"][lang]["perplexity"] == pytest.approx(ppl, rel=1e-3)
        chars = sum(len(t) + 1 for t in texts)  # a sentence's end is a character too
        bits = math.log(ppl) * tokens / math.log(2)
        assert js["per_lang"][lang]["bits_per_char"] == pytest.approx(bits / chars, rel=1e-3)
    ppl_all, tokens_all = _reference_ppl(lm_dir, [t for texts in TEXTS.values() for t in texts])
    assert js["all"]["tokens"] == tokens_all and js["all"]["perplexity"] == pytest.approx(ppl_all, rel=1e-3)


def test_missing_lm_is_an_error(tmp_path):
    assert lm_perplexity.main(["--lm", str(tmp_path / "nope"), "--tokenizer", str(tmp_path), "--cuts",
                               str(tmp_path), "--output", str(tmp_path / "o.json")]) == 1
