"""The word insertion penalty in the LLM's search: which tokens begin a word, and what the penalty does to them."""
import pytest
import torch

from test_decode_search import setup  # noqa: F401  (the tiny sharpened model fixture)
from prefixasr.decode.ctc_prefix import CtcPrefixScorer
from prefixasr.decode.llm_search import LlmSearchConfig, llm_beam, llm_greedy
from prefixasr.decode.script_mask import word_starts


class _Pieces:
    """The part of the Tokenizer interface that word_starts reads."""

    def __init__(self, pieces):
        self._pieces = pieces
        self.vocab_size = len(pieces)

    def pieces(self):
        return list(self._pieces)


def test_word_starts_reads_both_marks():
    tok = _Pieces(["<blk>", "</s>", "\u2581", "\u2581ab", "ab", "\u0120the", "the", "x\u2581"])
    assert word_starts(tok).tolist() == [False, False, True, True, False, True, False, False]


def test_word_starts_of_a_character_model(tmp_path):
    import sentencepiece as spm

    from prefixasr.data.tokenizer import Tokenizer

    text = tmp_path / "text.txt"
    text.write_text("".join(f"{w} {w}{w} abc\n" for w in "abcdefgh" * 10), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "spm"), model_type="char",
                                   pad_id=0, pad_piece="<blk>", unk_id=1, bos_id=2, eos_id=3)
    tok = Tokenizer.load(tmp_path / "spm.model")
    starts = word_starts(tok)
    assert starts.sum() == 1 and tok.id_to_piece(int(starts.nonzero())) == "\u2581"


@pytest.mark.parametrize("beam", [1, 3])
def test_zero_penalty_changes_nothing_and_a_large_one_writes_no_word_start(setup, beam):  # noqa: F811
    model, prefix, plens, lang, embeds, mask = setup
    limits = [12] * 4
    starts = torch.zeros(model.llm.get_input_embeddings().num_embeddings, dtype=torch.bool)
    plain = llm_beam(model, embeds, mask, limits, LlmSearchConfig(beam=beam))
    used = sorted({t for h in plain for t in h})
    starts[torch.tensor(used)] = True
    assert llm_beam(model, embeds, mask, limits, LlmSearchConfig(beam=beam, word_penalty=0.0), word_starts=starts) \
        == plain
    heavy = llm_beam(model, embeds, mask, limits, LlmSearchConfig(beam=beam, word_penalty=1e3), word_starts=starts)
    assert heavy != plain and not any(t in used for h in heavy for t in h)


def test_greedy_and_beam_one_agree_with_the_penalty(setup):  # noqa: F811
    model, prefix, plens, lang, embeds, mask = setup
    limits = [12] * 4
    plain = llm_greedy(model, embeds, mask, limits)
    starts = torch.zeros(model.llm.get_input_embeddings().num_embeddings, dtype=torch.bool)
    starts[plain[0][0]] = True
    cfg = LlmSearchConfig(beam=1, word_penalty=1.5)
    greedy = llm_greedy(model, embeds, mask, limits, cfg, word_starts=starts)
    assert greedy != plain and greedy == llm_beam(model, embeds, mask, limits, cfg, word_starts=starts)


def test_the_penalty_applies_to_joint_ctc_scores(setup):  # noqa: F811
    model, prefix, plens, lang, embeds, mask = setup
    vocab = model.llm.get_input_embeddings().num_embeddings
    limits = [10] * 4

    def ctc():
        torch.manual_seed(1)
        logp = torch.randn(4, 20, vocab).log_softmax(-1)
        return CtcPrefixScorer(logp, torch.full((4,), 20), 0, model.eos_id, [model.bos_id])

    cfg = LlmSearchConfig(beam=1, ctc_weight=0.5, ctc_candidates=vocab - 1)
    joint = llm_beam(model, embeds, mask, limits, cfg, ctc=ctc())
    starts = torch.zeros(vocab, dtype=torch.bool)
    starts[torch.tensor(sorted({t for h in joint for t in h}))] = True
    heavy = llm_beam(model, embeds, mask, limits, LlmSearchConfig(beam=1, ctc_weight=0.5, ctc_candidates=vocab - 1,
                                                                  word_penalty=1e3), ctc=ctc(), word_starts=starts)
    assert not any(starts[t] for h in heavy for t in h)


def test_a_penalty_without_word_starts_is_refused(setup):  # noqa: F811
    model, prefix, plens, lang, embeds, mask = setup
    with pytest.raises(ValueError, match="begin a word"):
        llm_greedy(model, embeds, mask, [5] * 4, LlmSearchConfig(word_penalty=1.0))
