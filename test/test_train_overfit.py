"""Overfitting check: a handful of utterances are learnt to near-zero loss and greedy decoding
(LLM path and RNN-T path) reproduces their transcripts."""
import torch

from test_train_fixtures import memorise_and_decode

torch.set_num_threads(1)


def test_tiny_model_memorises_and_greedy_decodes_its_training_set(tmp_path):
    r = memorise_and_decode(tmp_path)
    assert r["ce_per_token"] < 0.05, r["ce_per_token"]
    assert r["llm"] == r["texts"]
    assert sum(h == t for h, t in zip(r["rnnt"], r["texts"])) >= len(r["texts"]) - 1, (r["rnnt"], r["texts"])
