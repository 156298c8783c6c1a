"""Encoder pre-training and `model.init`: an encoder-only system (character CTC + LID) learns the tiny
corpus and logs its dev CER per epoch; a prefix system starts from it (copied, optionally frozen);
bad init configs fail with a message naming the part or tensor."""
import copy
import json
import logging

import pytest
import torch
import yaml

from prefixasr.bin import train as train_cli
from prefixasr.model import load_model
from prefixasr.checkpoints import load_checkpoint, read_state_dict
from test_train_fixtures import make_corpus, system_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), n_utts=48)


def _run(tmp_path, cfg, exp, *extra):
    path = tmp_path / f"{exp.name}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return train_cli.main(["--config", str(path), "--exp-dir", str(exp), *extra])


def encoder_only(corpus, **train):
    cfg = system_config(corpus, **train)
    cfg["model"].update(llm={"type": "none"}, projector={"stack": 1, "hidden_dim": 32, "output_dim": 32},
                        loss={"ce_weight": 0.0, "encoder_ctc_weight": 1.0, "lid_weight": 0.1})
    return cfg


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, corpus):
    tmp = tmp_path_factory.mktemp("pre")
    exp = tmp / "pretrain"
    cfg = encoder_only(corpus, num_epochs=25, lr=5e-3, warmup_steps=10, valid_cer_utts=24)
    assert _run(tmp, cfg, exp) == 0
    return exp


def test_encoder_pretraining_learns_and_logs_dev_cer_per_epoch(pretrained):
    rows = json.loads((pretrained / "history.json").read_text())
    assert [r["epoch"] for r in rows] == list(range(1, 26))
    cer = [r["cer_ctc_greedy"] for r in rows]
    assert cer[0] > 50.0, "an untrained encoder does not read the corpus"
    assert cer[-1] <= 10.0, f"the character CTC must learn the letters: dev CER by epoch {cer}"
    log = (pretrained / "train.log").read_text()
    assert "dev CER on 24 utterances (greedy): ctc_greedy=" in log
    table = log.split("per-epoch history")[-1]
    assert "| epoch | step | minutes |" in table and "cer_ctc_greedy" in table and "valid_encoder_ctc" in table
    assert log.rstrip().splitlines()[-1].startswith("| 25 |"), "train.log ends with the per-epoch table"
    assert (pretrained / "learning_curve.png").stat().st_size > 1000
    loaded = load_model(pretrained)
    assert loaded.char_tokenizer is not None and loaded.model.encoder_ctc is not None


def test_prefix_system_starts_from_the_pretrained_encoder_frozen(tmp_path, corpus, pretrained):
    cfg = system_config(corpus, num_epochs=1)
    cfg["model"]["loss"]["lid_weight"] = 0.1
    cfg["model"]["init"] = {"path": str(pretrained), "modules": ["encoder", "lid_head"], "freeze": ["encoder"]}
    exp = tmp_path / "prefix"
    assert _run(tmp_path, cfg, exp) == 0
    source = read_state_dict(pretrained)
    trained = load_checkpoint(exp / "epoch-1.pt")["model"]
    enc_keys = [k for k in trained if k.startswith("encoder.")]
    assert enc_keys and all(torch.equal(trained[k], source[k]) for k in enc_keys), "frozen: copied and unchanged"
    assert not torch.equal(trained["lid_head.net.0.weight"], source["lid_head.net.0.weight"]), "copied, then trained"
    assert "model.init: encoder, lid_head copied from" in (exp / "train.log").read_text()
    # decoding rebuilds the model from the exp dir alone: no pre-training dir needed
    assert load_model(exp).model.encoder is not None


def test_init_from_a_checkpoint_file_fine_tunes(tmp_path, corpus, pretrained):
    cfg = system_config(corpus, num_epochs=1)
    cfg["model"]["init"] = {"path": str(pretrained / "epoch-25.pt"), "modules": ["encoder"]}
    exp = tmp_path / "ft"
    assert _run(tmp_path, cfg, exp) == 0
    source = read_state_dict(pretrained / "epoch-25.pt")
    trained = load_checkpoint(exp / "epoch-1.pt")["model"]
    key = "encoder.layers.0.ff1.net.1.weight"
    assert not torch.equal(trained[key], source[key]), "not frozen: the encoder trains on"


@pytest.mark.parametrize("init, message", [
    ({"modules": ["encoder", "transducer"]}, "has no transducer weights"),
    ({"modules": ["decoder"]}, "unknown part(s) ['decoder']"),
    ({"modules": ["encoder"], "freeze": ["lid_head"]}, "this system has no lid_head"),
])
def test_bad_init_configs_fail_clearly(tmp_path, corpus, pretrained, init, message, caplog):
    cfg = system_config(corpus, num_epochs=1)
    cfg["model"]["init"] = {"path": str(pretrained), **init}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        _run(tmp_path, cfg, tmp_path / "bad")


def test_init_with_another_encoder_size_names_the_tensor(tmp_path, corpus, pretrained):
    cfg = system_config(corpus, num_epochs=1)
    cfg["model"]["encoder"] = dict(copy.deepcopy(cfg["model"]["encoder"]), d_model=48, ffn_dim=96)
    cfg["model"]["init"] = {"path": str(pretrained), "modules": ["encoder"]}
    with pytest.raises(ValueError, match=r"model.init: encoder\..* has shape .* configs differ"):
        _run(tmp_path, cfg, tmp_path / "mismatch")


class _PrefixAndTransducer(torch.nn.Module):
    """The two parts of a SpeechPrefixLM that widening concerns, under their SpeechPrefixLM names."""

    def __init__(self, prefix_dim: int) -> None:
        super().__init__()
        from prefixasr.model.projector import FrameStackProjector
        from prefixasr.model.transducer import Transducer
        torch.manual_seed(prefix_dim)
        self.projector = FrameStackProjector(12, prefix_dim, stack=2, hidden_dim=16)
        self.transducer = Transducer(prefix_dim, vocab_size=9, blank_id=0, decoder_dim=8, joiner_dim=10)

    def rnnt_loss(self, feats, lens, targets):
        prefix, prefix_lens = self.projector(feats, lens)
        return self.transducer.loss(prefix, prefix_lens, targets)


def test_widen_copies_a_narrower_rnnt_that_computes_what_it_did(tmp_path):
    from prefixasr.model.init import initialise_from
    narrow, wide = _PrefixAndTransducer(6), _PrefixAndTransducer(20)  # a 256-wide pre-training, Gemma's 640
    torch.save(narrow.state_dict(), tmp_path / "narrow.pt")
    init = {"path": str(tmp_path / "narrow.pt"), "modules": ["projector.mlp", "transducer"]}
    with pytest.raises(ValueError, match=r"projector\.mlp\.2\.weight has shape \(6, 16\).*\(20, 16\).*widen"):
        initialise_from(wide, init)
    with pytest.raises(ValueError, match=r"model.init.widen names \['lid_head'\]"):
        initialise_from(wide, dict(init, widen=["lid_head"]))
    fresh_rows = wide.projector.mlp[2].weight[6:].detach().clone()
    assert initialise_from(wide, dict(init, widen=["projector.mlp", "transducer"])) == ["projector.mlp", "transducer"]

    feats, lens = torch.randn(2, 14, 12), torch.tensor([14, 9])
    targets = [[1, 2, 3, 4], [5, 6]]
    with torch.no_grad():
        for a, b in zip(narrow.rnnt_loss(feats, lens, targets), wide.rnnt_loss(feats, lens, targets)):
            assert torch.allclose(a, b, rtol=1e-5), "the widened RNN-T reads the copied dimensions as before"
    assert torch.equal(wide.projector.mlp[2].weight[6:], fresh_rows), "new prefix dimensions keep their init"
    assert torch.count_nonzero(wide.transducer.joiner.encoder_proj.weight[:, 6:]) == 0
    # the new dimensions are not dead: the LLM reads them, and training can teach the RNN-T to
    assert torch.count_nonzero(fresh_rows) == fresh_rows.numel()


def test_a_part_the_system_does_not_have_is_left_out_and_logged(tmp_path, caplog):
    """A block layered over every system (conf/llm/gemma3_270m.yaml copies the RNN-T) also fits a system without one."""
    from prefixasr.model.init import initialise_from
    source = _PrefixAndTransducer(6)
    torch.save(source.state_dict(), tmp_path / "src.pt")
    no_rnnt = _PrefixAndTransducer(6)
    no_rnnt.transducer = None
    init = {"path": str(tmp_path / "src.pt"), "modules": ["projector.mlp", "transducer"], "widen": ["transducer"]}
    with caplog.at_level(logging.INFO):
        assert initialise_from(no_rnnt, init) == ["projector.mlp"]
    assert "transducer not copied: this system has none" in caplog.text
    assert torch.equal(no_rnnt.projector.mlp[2].weight, source.projector.mlp[2].weight)
