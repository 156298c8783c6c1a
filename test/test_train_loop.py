"""Trainer end to end on a tiny learnable corpus: exp dir contents, resume, NaN skipping, frozen LLM,
pessimistic-batch advice, and an overfitting check with greedy decoding."""

import pytest
import torch
import yaml

from prefixasr.bin import train as train_cli
from prefixasr.model import load_model
from prefixasr.checkpoints import load_checkpoint
from test_train_fixtures import gradients_close, make_corpus, system_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def _run(tmp_path, cfg, exp, *extra):
    path = tmp_path / f"{exp.name}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return train_cli.main(["--config", str(path), "--exp-dir", str(exp), *extra])


def test_training_writes_a_self_contained_exp_dir(tmp_path, corpus):
    exp = tmp_path / "exp"
    assert _run(tmp_path, system_config(corpus, num_epochs=2), exp) == 0
    for name in ("config.yaml", "env.json", "train.log", "epoch-1.pt", "epoch-2.pt", "lang2id.json",
                 "tokenizer/spm.model"):
        assert (exp / name).exists(), name
    assert any((exp / "tensorboard").iterdir())
    log = (exp / "train.log").read_text()
    assert "audio-s/s ETA" in log and "validation" in log and "pessimistic batch" in log
    loaded = load_model(exp, epoch=2, avg=2)  # config, tokenizer and lang map from the exp dir only
    assert loaded.model.has_llm and len(loaded.lang_map) == 3 and loaded.config["model"]["blank_id"] == 0
    s1 = load_checkpoint(exp / "epoch-1.pt")["model"]
    s2 = load_checkpoint(exp / "epoch-2.pt")["model"]
    key = "projector.mlp.0.weight"
    assert torch.allclose(loaded.model.state_dict()[key], (s1[key] + s2[key]) / 2, atol=1e-6)


def test_resume_mid_epoch_gives_the_same_parameters(tmp_path, corpus):
    full, part = tmp_path / "full", tmp_path / "part"
    assert _run(tmp_path, system_config(corpus, num_epochs=2), full) == 0
    steps_per_epoch = load_checkpoint(full / "epoch-1.pt")["step"]
    stop = steps_per_epoch + 2  # "killed" in the middle of epoch 2
    assert _run(tmp_path, system_config(corpus, num_epochs=2, max_steps=stop), part) == 0
    assert (part / f"checkpoint-{stop}.pt").exists() and not (part / "epoch-2.pt").exists()
    assert train_cli.main(["--exp-dir", str(part), "--resume", "train.max_steps=0"]) == 0
    a = load_checkpoint(full / "epoch-2.pt")
    b = load_checkpoint(part / "epoch-2.pt")
    assert a["step"] == b["step"]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k


def test_two_runs_of_one_config_with_specaugment_train_the_same_weights(tmp_path, corpus):
    """lhotse's SpecAugment draws from Python's and numpy's generators (whether to augment an utterance, its time
    warp): the run seeds them with torch's, so whatever drew from them before in the process changes nothing."""
    import random

    import numpy as np

    cfg = system_config(corpus, num_epochs=1)
    cfg["data"]["loader"].update(spec_augment=True, time_warp_factor=2, num_frame_masks=1, frames_mask_size=2)
    weights = []
    for other_seed, exp in ((1, tmp_path / "a"), (2, tmp_path / "b")):
        random.seed(other_seed)  # a process whose generators stand elsewhere
        np.random.seed(other_seed)
        assert _run(tmp_path, cfg, exp) == 0
        weights.append(load_checkpoint(exp / "epoch-1.pt")["model"])
    for k, v in weights[0].items():
        assert torch.equal(v, weights[1][k]), k


def test_linear_schedule_ends_at_zero_with_the_run_and_resumes(tmp_path, corpus):
    full, part = tmp_path / "full", tmp_path / "part"
    cfg = system_config(corpus, num_epochs=2, schedule="linear", warmup_steps=2)
    assert _run(tmp_path, cfg, full) == 0
    a = load_checkpoint(full / "epoch-2.pt")
    total = 2 * load_checkpoint(full / "epoch-1.pt")["step"]
    assert a["step"] == total and f"schedule linear: {total} steps" in (full / "train.log").read_text()
    assert a["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-9)  # annealed with the run
    assert _run(tmp_path, {**cfg, "train": {**cfg["train"], "max_steps": total // 2 + 1}}, part) == 0
    assert train_cli.main(["--exp-dir", str(part), "--resume", "train.max_steps=0"]) == 0
    b = load_checkpoint(part / "epoch-2.pt")
    for k, v in a["model"].items():  # the schedule after a resume is the one it would have had
        assert torch.equal(v, b["model"][k]), k


def test_resume_with_a_changed_config_stops_and_says_what_changed(tmp_path, corpus):
    exp = tmp_path / "exp"
    assert _run(tmp_path, system_config(corpus, num_epochs=1, max_steps=2), exp) == 0
    with pytest.raises(ValueError, match=r"--resume: the config differs .*train\.lr: 0\.003 -> 0\.005"):
        _run(tmp_path, system_config(corpus, num_epochs=1, max_steps=2, lr=5e-3), exp, "--resume")
    # training longer is what resuming is for
    assert _run(tmp_path, system_config(corpus, num_epochs=2, max_steps=2), exp, "--resume") == 0


def test_nonfinite_batch_is_skipped_and_counted(tmp_path, corpus, monkeypatch):
    from prefixasr.train import trainer as trainer_mod

    real = trainer_mod.unpack_batch
    calls = {"n": 0}

    def poisoned(raw):
        batch = real(raw)
        calls["n"] += 1
        if calls["n"] == 3:
            batch.features[0, 0, 0] = float("nan")
        return batch

    monkeypatch.setattr(trainer_mod, "unpack_batch", poisoned)
    exp = tmp_path / "nan"
    assert _run(tmp_path, system_config(corpus, num_epochs=1, scan_pessimistic_batches=False), exp) == 0
    state = load_checkpoint(exp / "epoch-1.pt")
    assert state["counters"]["nonfinite_batches"] == 1
    assert state["step"] == state["batch_in_epoch"] - 1  # every other batch made an update
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert "non-finite loss" in (exp / "train.log").read_text()


def test_frozen_llm_stays_bit_identical_and_is_kept_once(tmp_path, corpus):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = system_config(corpus, num_epochs=1)
    torch.manual_seed(0)  # a "pre-trained" LM on disk: freezing is for LMs that know something
    lm = LlamaForCausalLM(LlamaConfig(vocab_size=24, bos_token_id=2, eos_token_id=3, pad_token_id=0,
                                      **cfg["model"]["llm"]["arch"]))
    lm.save_pretrained(tmp_path / "lm")
    cfg["model"]["llm"] = {"type": "pretrained", "path": str(tmp_path / "lm"), "freeze": True}
    exp = tmp_path / "frozen"
    assert _run(tmp_path, cfg, exp) == 0
    trained = load_checkpoint(exp / "epoch-1.pt")["model"]
    # the frozen LLM's weights stay in its own directory: not in the checkpoint, nor copied into the exp dir
    assert not [k for k in trained if k.startswith("llm.")]
    assert not list(exp.rglob("*.safetensors"))
    loaded = load_model(exp)  # ... and decoding reads them from there, unmoved
    assert all(torch.equal(v, loaded.model.llm.state_dict()[k]) for k, v in lm.state_dict().items())
    assert train_cli.main(["--exp-dir", str(exp), "--resume", "train.num_epochs=2"]) == 0  # a resume finds them too
    from prefixasr.model import build_model
    from prefixasr.train.config import load_config

    saved = load_config(exp / "config.yaml")
    torch.manual_seed(saved["train"]["seed"])
    fresh = build_model(saved, 24, 3).state_dict()  # the same seed: where training started
    assert not torch.equal(trained["projector.mlp.0.weight"], fresh["projector.mlp.0.weight"])  # it did train


def test_freezing_a_from_scratch_llm_is_refused(corpus):
    from prefixasr.model.config import model_config

    cfg = system_config(corpus)
    cfg["model"]["llm"]["freeze"] = True
    with pytest.raises(ValueError, match="would freeze random weights"):
        model_config(cfg)


def test_pessimistic_batch_failure_tells_user_to_lower_max_duration(tmp_path, corpus, monkeypatch):
    from prefixasr.model.model import SpeechPrefixLM

    def oom(*a, **k):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 TB")

    monkeypatch.setattr(SpeechPrefixLM, "forward", oom)
    with pytest.raises(train_cli.BatchTooLarge, match="lower data.loader.max_duration"):
        _run(tmp_path, system_config(corpus, num_epochs=1), tmp_path / "oom")


def test_bad_config_key_is_a_clear_error(tmp_path, corpus):
    with pytest.raises(ValueError, match="unknown config key train.lrr"):
        _run(tmp_path, system_config(corpus), tmp_path / "bad", "train.lrr=1")


def test_gradient_accumulation_steps_once_per_two_batches(tmp_path, corpus):
    exp = tmp_path / "accum"
    cfg = system_config(corpus, num_epochs=1, accum_grad=2, scan_pessimistic_batches=False)
    assert _run(tmp_path, cfg, exp) == 0
    state = load_checkpoint(exp / "epoch-1.pt")
    assert state["step"] == state["batch_in_epoch"] // 2 and state["step"] > 0


def _gradients_of_first_step(monkeypatch, tmp_path, cfg, exp):
    """Train up to the first optimiser step; return (batches read, the gradients the optimiser was handed):
    after accumulation, before clipping, what accumulation must make equal, free of the optimiser's maths."""
    from prefixasr.train.trainer import Trainer

    seen = {}
    real_step = Trainer._optimizer_step

    def record(self):
        if not seen:
            seen.update({n: p.grad.detach().clone() for n, p in self.model.named_parameters() if p.grad is not None})
            seen["__batches__"] = self.batch_in_epoch
        real_step(self)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_optimizer_step", record)
        assert _run(tmp_path, cfg, exp) == 0
    return seen.pop("__batches__"), seen


def test_gradient_accumulation_equals_one_batch_of_twice_the_size(monkeypatch, tmp_path):
    # four utterances of one text (equal lengths, equal token counts: the per-token loss of two batches of two
    # averages to that of one batch of four), no dropout, no shuffling. The gradients handed to the optimiser are
    # compared, not the weights after an Adam step: Adam divides by the gradient's own size, so float noise on a
    # gradient that is truly zero becomes a step of the learning rate's size, different on every CPU.
    corpus = make_corpus(tmp_path / "corpus", n_utts=4, text="abcde fghij")
    grads = {}
    for name, accum, max_duration in (("accum", 2, 2.0), ("double", 1, 4.0), ("half", 1, 2.0)):
        cfg = system_config(corpus, num_epochs=1, max_steps=1, accum_grad=accum, scan_pessimistic_batches=False,
                            warmup_steps=1)
        cfg["model"]["encoder"]["dropout"] = 0.0
        cfg["data"]["loader"].update(max_duration=max_duration * 0.66, shuffle=False)
        batches, grads[name] = _gradients_of_first_step(monkeypatch, tmp_path, cfg, tmp_path / name)
        assert batches == accum, f"{name}: {batches} batches for one step"
    assert grads["double"] and grads["accum"].keys() == grads["double"].keys()
    for k, g in grads["double"].items():  # two accumulated batches give the gradient of one batch of twice the size
        assert gradients_close(grads["accum"][k], g), (k, float((grads["accum"][k] - g).norm()), float(g.norm()))
    # ... and not the first batch's alone (the comparison can tell them apart)
    assert any(not gradients_close(grads["half"][k], g) for k, g in grads["double"].items())
