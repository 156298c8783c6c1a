"""The token n-gram LM (Kneser-Ney) and its shallow fusion into the LLM's search."""
import math
import random

import numpy as np
import pytest
import torch

from test_decode_search import setup  # noqa: F401  (the tiny sharpened model fixture)
from prefixasr.bin import train_ngram
from prefixasr.decode.llm_search import LlmSearchConfig, llm_beam
from prefixasr.decode.ngram import NgramLM, NgramScorer

BOS, EOS, V = 2, 3, 16


def _random_sentences(n=300, seed=0):
    rng = random.Random(seed)
    return [[rng.randrange(4, V) for _ in range(rng.randrange(1, 12))] for _ in range(n)]


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_every_history_gives_a_distribution(order):
    lm = NgramLM.train(_random_sentences(), order, V, BOS, EOS)
    rng = np.random.default_rng(0)
    hist = np.concatenate([np.full((1, order - 1), BOS), rng.integers(4, V, size=(20, order - 1))])
    probs = np.exp(lm.logprob(hist, np.tile(np.arange(V), (len(hist), 1))))
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs[:, BOS] < 1e-3).all(), "<s> is never predicted: only the smoothing floor is left to it"


def test_kneser_ney_bigram_by_hand():
    # sentences "5 6" and "5 7": after 5, the seen 6 and 7 share the mass left by the discount with the
    # lower order; P(6 | 5) = (1 - D)/2 + D * 2/2 * P_uni(6), D = n1 / (n1 + 2 n2) of the bigram counts
    lm = NgramLM.train([[5, 6], [5, 7]], 2, V, BOS, EOS)
    bigram_counts = [1, 1, 2, 1, 1]  # <s>5 x2, 5 6, 5 7, 6 </s>, 7 </s>: counts 2,1,1,1,1
    n1, n2 = bigram_counts.count(1), bigram_counts.count(2)
    d2 = n1 / (n1 + 2 * n2)
    # unigram continuation counts: 5 after {<s>}, 6 after {5}, 7 after {5}, </s> after {6, 7}: 1,1,1,2 of 5
    d1 = 3 / (3 + 2 * 1)
    p_uni_6 = (1 - d1) / 5 + d1 * 4 / 5 / V
    expected = (1 - d2) / 2 + d2 * 2 / 2 * p_uni_6
    got = math.exp(lm.logprob(np.array([[5]]), np.array([[6]]))[0, 0])
    assert got == pytest.approx(expected, rel=1e-5)


def test_it_remembers_its_text_and_round_trips(tmp_path):
    text = [[5, 6, 7, 8, 9]] * 20 + _random_sentences(50)
    lm = NgramLM.train(text, 4, V, BOS, EOS)
    assert lm.sentence_logprob([5, 6, 7, 8, 9]) > lm.sentence_logprob([9, 8, 7, 6, 5]) + 5
    lm.save(tmp_path / "lm.npz")
    back = NgramLM.load(tmp_path / "lm.npz")
    assert back.sentence_logprob([5, 6, 7, 8, 9]) == pytest.approx(lm.sentence_logprob([5, 6, 7, 8, 9]))


def test_bad_orders_and_ids_are_refused(tmp_path):
    with pytest.raises(ValueError, match="bits"):
        NgramLM.train([[5]], 7, 1024, BOS, EOS)
    with pytest.raises(ValueError, match="token ids"):
        NgramLM.train([[5, V]], 2, V, BOS, EOS)
    with pytest.raises(FileNotFoundError, match="train_ngram"):
        NgramLM.load(tmp_path / "missing.npz")


def test_the_scorer_follows_the_search_rows():
    lm = NgramLM.train([[5, 6, 7]] * 5, 3, V, BOS, EOS)
    sc = NgramScorer(lm, 2)
    sc.score(torch.tensor([[9, 5], [5, 9]]))
    sc.select(torch.tensor([0, 1]), torch.tensor([1, 1]))  # row 0 takes 5, row 1 takes 9
    sc.reorder(torch.tensor([1, 0, 0]))  # rows: [.. 9], [.. 5], [.. 5]
    s = sc.score(torch.tensor([[6], [6], [6]]))
    assert s[1, 0] == s[2, 0] and s[1, 0] > s[0, 0] + 1


def test_fusion_steers_the_llm_towards_the_ngram(setup):  # noqa: F811
    model, prefix, plens, lang, embeds, mask = setup
    limits, wanted = [12] * 4, [5, 9, 12, 7]
    alone = llm_beam(model, embeds, mask, limits, LlmSearchConfig(beam=1))
    assert all(h != wanted for h in alone), "the random LLM alone writes something else"
    vocab = model.llm.get_input_embeddings().num_embeddings
    lm = NgramLM.train([wanted] * 50, 5, vocab, model.bos_id, model.eos_id)
    cfg = LlmSearchConfig(beam=1, ngram_weight=5.0, ctc_candidates=vocab - 1)
    fused = llm_beam(model, embeds, mask, limits, cfg, ngram=NgramScorer(lm, embeds.size(0)))
    assert fused == [wanted] * 4
    with pytest.raises(ValueError, match="needs both"):
        llm_beam(model, embeds, mask, limits, cfg)


def test_train_ngram_tool(tmp_path, caplog):
    import sentencepiece as spm

    text = tmp_path / "text.txt"
    text.write_text("".join(f"{w} {w}{w} abc\n" for w in "abcdefgh" * 10), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "spm"), model_type="char",
                                   pad_id=0, pad_piece="<blk>", unk_id=1, bos_id=2, eos_id=3)
    out = tmp_path / "ngram.npz"
    assert train_ngram.main(["--text", str(text), "--tokenizer", str(tmp_path / "spm.model"), "--order", "3",
                             "--output", str(out)]) == 0
    assert NgramLM.load(out).order == 3
    assert train_ngram.main(["--text", str(tmp_path / "none.txt"), "--tokenizer", str(tmp_path / "spm.model"),
                             "--output", str(out)]) == 1
