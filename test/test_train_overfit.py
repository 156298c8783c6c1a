"""Overfitting check: a handful of utterances are learnt to near-zero loss and greedy decoding
(LLM path and RNN-T path) reproduces their transcripts."""
import torch
import yaml

from prefixasr.bin import train as train_cli
from prefixasr.data.datamodule import AsrDataModule, unpack_batch
from prefixasr.decode.llm_search import llm_greedy
from prefixasr.decode.rnnt_search import rnnt_greedy
from prefixasr.model import load_model
from prefixasr.train.data import load_cuts
from test_train_fixtures import make_corpus, memorise_config

torch.set_num_threads(1)


def test_tiny_model_memorises_and_greedy_decodes_its_training_set(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", n_utts=6, seed=3)
    cfg = memorise_config(corpus)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    assert train_cli.main(["--config", str(tmp_path / "c.yaml"), "--exp-dir", str(tmp_path / "exp")]) == 0

    loaded = load_model(tmp_path / "exp")
    model, tok = loaded.model, loaded.tokenizer
    dm = AsrDataModule(max_duration=100, num_workers=0, spec_augment=False, world_size=1, rank=0)
    batch = unpack_batch(next(iter(dm.test_dataloader(load_cuts(corpus["cuts"], "cuts")))))
    lang_ids = torch.tensor([loaded.lang_map.index(lang) for lang in batch.languages])
    with torch.no_grad():
        _, stats = model(batch.features, batch.feature_lens, tok.encode_batch(batch.texts), lang_ids)
        assert stats["ce"] / stats["tokens"] < 0.05, stats
        embeds, mask, _ = model.build_llm_prefix(*model.encode_for_llm(batch.features, batch.feature_lens), lang_ids)
        prefix, plens = model.encode(batch.features, batch.feature_lens)
        llm_hyps = [tok.decode(h) for h in llm_greedy(model, embeds, mask, [40] * len(batch))]
        rnnt_hyps = [tok.decode(h) for h, _ in rnnt_greedy(model.transducer, prefix, plens, max_sym_per_frame=3)]
    assert llm_hyps == batch.texts
    assert sum(h == r for h, r in zip(rnnt_hyps, batch.texts)) >= len(batch) - 1, (rnnt_hyps, batch.texts)
