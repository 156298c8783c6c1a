"""Forced scoring (prefixasr/decode/forced.py): the LLM's search made to follow a sequence scores it as the search
itself does, so the beam's 1-best scores what the beam said; and the search-errors tool built on it."""
import json

import pytest
import torch

from test_decode_search import setup  # noqa: F401  (the tiny sharpened model fixture)
from prefixasr.decode.ctc_prefix import CtcPrefixScorer
from prefixasr.decode.forced import forced_scores
from prefixasr.decode.llm_search import LlmSearchConfig, llm_beam_scored
from prefixasr.decode.ngram import NgramLM, NgramScorer


def _scorers(model, vocab):
    """A fresh random CTC and a fresh n-gram scorer (the same each call): one row per utterance."""
    torch.manual_seed(1)
    logp = (2.0 * torch.randn(4, 20, vocab)).log_softmax(-1)
    ctc = CtcPrefixScorer(logp, torch.tensor([20, 17, 12, 9]), 0, model.eos_id, [model.bos_id])
    text = [[int(t) for t in torch.randint(3, vocab, (8,))] for _ in range(40)]
    return ctc, NgramScorer(NgramLM.train(text, 3, vocab, model.bos_id, model.eos_id), 4)


@pytest.mark.parametrize("joint", [False, True])
@pytest.mark.parametrize("beam,length_penalty", [(2, 0.0), (4, 1.0)])
def test_the_beam_scores_what_it_said(setup, joint, beam, length_penalty):  # noqa: F811
    """Every part of the search at once: the beam's 1-best, forced, gets the beam's own ranking score (to float
    noise: the beam computes it in rows of 3), and each of its tokens was among its step's candidates."""
    model, prefix, plens, lang, embeds, mask = setup
    vocab = model.llm.get_input_embeddings().num_embeddings
    starts = torch.arange(vocab) % 3 == 0
    # a few tokens besides EOS, so that hypotheses end early while others go on (the live ones then must not be
    # ranked as if they had ended)
    allowed = torch.zeros(4, vocab, dtype=torch.bool)
    allowed[:, [model.eos_id, 10, 11, 12, 13, 14]] = True
    limits = [20, 16, 12, 8]
    cfg = LlmSearchConfig(beam=beam, length_penalty=length_penalty, repetition_penalty=1.3, word_penalty=0.7,
                          ctc_weight=0.4 if joint else 0.0, ngram_weight=0.3 if joint else 0.0,
                          ctc_candidates=5, ctc_propose=joint)
    ctc, ngram = _scorers(model, vocab) if joint else (None, None)
    best = llm_beam_scored(model, embeds, mask, limits, cfg, ctc=ctc, allowed=allowed, ngram=ngram,
                           word_starts=starts)
    assert len({tuple(t) for _, t in best}) > 1, "the random system says different things"
    ctc, ngram = _scorers(model, vocab) if joint else (None, None)
    forced = forced_scores(model, embeds, mask, limits, [t for _, t in best], cfg, ctc=ctc, allowed=allowed,
                           ngram=ngram, word_starts=starts)
    for (score, tokens), f in zip(best, forced):
        assert f.tokens == tokens and f.reachable and f.missed == 0
        assert f.ranked == pytest.approx(score, rel=1e-5, abs=1e-4)
        assert sum(f.parts.values()) == pytest.approx(f.total, rel=1e-5, abs=1e-4)
        assert set(f.parts) == ({"llm", "ctc", "ngram", "word"} if joint else {"llm", "word"})


def test_what_the_search_cannot_write_is_out_of_reach(setup):  # noqa: F811
    model, prefix, plens, lang, embeds, mask = setup
    vocab = model.llm.get_input_embeddings().num_embeddings
    allowed = torch.ones(4, vocab, dtype=torch.bool)
    allowed[:, 7] = False
    seqs = [[10, 11], [10, 7, 11], [10] * 6, [10] * 5]
    forced = forced_scores(model, embeds, mask, [5] * 4, seqs, LlmSearchConfig(), allowed=allowed)
    assert [f.reachable for f in forced] == [True, False, False, True]  # a masked token; over the limit of 5
    # at its limit a sequence finishes without EOS, as in the beam: one step fewer than the same plus EOS
    assert forced[3].total < 0 and forced[0].missed == 0


def test_search_errors_tool(tmp_path):
    """End to end on a tiny system decoding jointly with its CTC: one record per utterance, the hypothesis
    scoring what the beam said, and the counts."""
    from test_decode_tool import _cuts, _exp_dir
    from prefixasr.bin import search_errors

    exp = _exp_dir(tmp_path / "exp", encoder_ctc=True, decode={"ctc_weight": 0.5, "beam": 3, "length_penalty": 0.5})
    (tmp_path / "data").mkdir()
    seg = _cuts(tmp_path / "data")[0]
    out = tmp_path / "forced.jsonl"
    assert search_errors.main(["--exp-dir", str(exp), "--cuts", str(seg), "--output", str(out), "--max-duration",
                               "3", "--log-level", "WARNING"]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 5 and all(r["ref"] for r in records)
    for r in records:
        assert r["hyp_score"]["ranked"] == pytest.approx(r["beam_score"], rel=1e-5, abs=1e-4), r["utt"]
        assert r["hyp_score"]["missed"] == 0 and set(r["ref_score"]["parts"]) == {"llm", "ctc"}
    counts = search_errors.summarise(records)
    assert counts["wrong"] == 5 and counts["search_errors"] + counts["model_errors"] == 5
    assert search_errors.main(["--exp-dir", str(exp), "--cuts", str(seg), "--method", "rnnt_greedy"]) == 1
