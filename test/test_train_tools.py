"""LM pre-training tool, checkpoint averaging tool, config includes/overrides, cut filtering."""
import json
import math

import pytest

import torch
import yaml

from prefixasr.bin import average_checkpoints, train_lm
from prefixasr.checkpoints import average_state_dicts, distinct_tensors, find_checkpoints, read_state_dict
from prefixasr.train.config import load_config, parse_overrides
from test_train_fixtures import make_corpus

torch.set_num_threads(1)


def _lm_config(tmp_path, corpus, layers: int, valid_fraction: float, **train) -> None:
    """A tiny LM config over the corpus text, written to tmp_path/lm.yaml."""
    cfg = {"data": {"text": str(tmp_path / "c" / "text.txt"), "tokenizer": corpus["tokenizer"],
                    "valid_fraction": valid_fraction},
           "model": {"arch": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": layers,
                              "num_attention_heads": 2, "num_key_value_heads": 2}},
           "train": {"batch_size": 8, "lr": 1e-2, "num_threads": 1, **train}}
    (tmp_path / "lm.yaml").write_text(yaml.safe_dump(cfg))


def test_train_lm_lowers_perplexity_and_saves_a_loadable_hf_dir(tmp_path):
    corpus = make_corpus(tmp_path / "c", n_utts=30)
    _lm_config(tmp_path, corpus, 1, 0.1, block_size=16, num_steps=60, warmup_steps=5, log_interval=20,
               valid_interval=30)
    exp = tmp_path / "lm"
    assert train_lm.main(["--config", str(tmp_path / "lm.yaml"), "--exp-dir", str(exp)]) == 0
    log = (exp / "train_lm.log").read_text()
    first = float(log.split("step 0: held-out perplexity ")[1].split()[0])
    final = json.loads((exp / "result.json").read_text())["valid_perplexity"]
    assert final < 0.5 * first, (first, final)  # the text is learnable (a 10-letter alphabet)
    from transformers import AutoModelForCausalLM

    llm = AutoModelForCausalLM.from_pretrained(str(exp / "hf"))
    assert llm.get_input_embeddings().num_embeddings == 24

    # the LM stage's output feeds a frozen prefix system; load_model rebuilds it from the exp dir alone
    from prefixasr.bin import train as train_cli
    from prefixasr.model import load_model
    from test_train_fixtures import system_config

    sys_cfg = system_config(corpus, num_epochs=1, scan_pessimistic_batches=False)
    sys_cfg["model"]["llm"] = {"type": "pretrained", "path": str(exp / "hf"), "freeze": True}
    (tmp_path / "sys.yaml").write_text(yaml.safe_dump(sys_cfg))
    assert train_cli.main(["--config", str(tmp_path / "sys.yaml"), "--exp-dir", str(tmp_path / "sys")]) == 0
    loaded = load_model(tmp_path / "sys")  # the frozen LM's weights are read from the LM stage's dir (kept once)
    for name, p in llm.state_dict().items():
        assert torch.equal(loaded.model.llm.state_dict()[name], p), name
    (exp / "hf" / "model.safetensors").unlink()  # ... so without them decoding says where they should be
    with pytest.raises(FileNotFoundError, match="kept once"):
        load_model(tmp_path / "sys")


def test_average_checkpoints_tool(tmp_path):
    for e in (1, 2, 3):
        torch.save({"model": {"w": torch.full((2,), float(e)), "n": torch.tensor(e)}, "step": e},
                   tmp_path / f"epoch-{e}.pt")
    assert [p.name for p in find_checkpoints(tmp_path, epoch=3, avg=2)] == ["epoch-2.pt", "epoch-3.pt"]
    assert average_checkpoints.main(["--exp-dir", str(tmp_path), "--epoch", "3", "--avg", "2"]) == 0
    avg = torch.load(tmp_path / "avg-2-3.pt")["model"]
    assert torch.equal(avg["w"], torch.full((2,), 2.5)) and int(avg["n"]) == 3
    out = average_state_dicts([{"w": torch.tensor([1.0])}, {"w": torch.tensor([4.0])}])
    assert float(out["w"]) == 2.5


def test_averaging_keeps_tied_weights_one_tensor(tmp_path):
    states = []
    for e in (1, 2):
        emb = torch.full((3, 2), float(e))
        states.append({"embed.weight": emb, "lm_head.weight": emb, "bias": torch.full((2,), float(e))})
        torch.save(states[-1], tmp_path / f"s{e}.pt")
    loaded = [torch.load(tmp_path / f"s{e}.pt") for e in (1, 2)]  # torch.save keeps the tie
    out = average_state_dicts(loaded)
    assert out["embed.weight"] is out["lm_head.weight"] and float(out["embed.weight"][0, 0]) == 1.5
    assert len(distinct_tensors(out)) == 2 and len(distinct_tensors({"a": torch.zeros(2), "b": torch.zeros(2)})) == 2
    torch.save(out, tmp_path / "avg.pt")  # saved once: about the size of one state, not 1.75x (Gemma's tied embedding)
    assert (tmp_path / "avg.pt").stat().st_size < 1.2 * (tmp_path / "s1.pt").stat().st_size


def test_reading_weights_uses_the_averaged_file_while_it_is_current(tmp_path):
    import os

    for e in (1, 2):
        torch.save({"model": {"w": torch.tensor([float(e)])}}, tmp_path / f"epoch-{e}.pt")
    assert average_checkpoints.main(["--exp-dir", str(tmp_path), "--avg", "2"]) == 0
    # what stage 8 wrote is what decoding and packing load (marked here to tell it from an on-the-fly average)
    torch.save({"model": {"w": torch.tensor([7.0])}}, tmp_path / "avg-1-2.pt")
    assert float(read_state_dict(tmp_path, avg=2)["w"]) == 7.0
    # an epoch rewritten after it (a resumed or redone run): the average is computed again
    later = (tmp_path / "avg-1-2.pt").stat().st_mtime + 10
    os.utime(tmp_path / "epoch-2.pt", (later, later))
    assert float(read_state_dict(tmp_path, avg=2)["w"]) == 1.5


def test_the_kept_average_stands_in_for_deleted_epoch_files(tmp_path):
    for e in (1, 2):
        torch.save({"model": {"w": torch.tensor([float(e)])}}, tmp_path / f"epoch-{e}.pt")
    assert average_checkpoints.main(["--exp-dir", str(tmp_path), "--avg", "2"]) == 0
    for e in (1, 2):  # a fine-tuned LLM's epoch files are GBs each: deleted once averaged
        (tmp_path / f"epoch-{e}.pt").unlink()
    assert [p.name for p in find_checkpoints(tmp_path, avg=2)] == ["avg-1-2.pt"]
    assert float(read_state_dict(tmp_path, avg=2)["w"]) == 1.5
    assert float(read_state_dict(tmp_path, avg=2, epoch=2)["w"]) == 1.5
    assert average_checkpoints.main(["--exp-dir", str(tmp_path), "--avg", "2"]) == 0  # kept already
    for epoch, avg in ((None, 1), (2, 1), (3, 2), (None, 3)):  # what the average does not hold is still missing
        with pytest.raises(FileNotFoundError):
            find_checkpoints(tmp_path, epoch=epoch, avg=avg)


def test_config_includes_and_overrides(tmp_path):
    (tmp_path / "block.yaml").write_text("model:\n  encoder: {d_model: 64, num_heads: 2}\ntrain: {lr: 0.1}\n")
    (tmp_path / "sys.yaml").write_text("include: [block.yaml]\ntrain: {lr: 0.2}\n")
    cfg = load_config(tmp_path / "sys.yaml", ["train.warmup_steps=7", "model.prompt.type=shared"])
    assert cfg["model"]["encoder"]["d_model"] == 64 and cfg["model"]["encoder"]["num_layers"] == 6
    assert cfg["train"]["lr"] == 0.2 and cfg["train"]["warmup_steps"] == 7
    assert cfg["model"]["prompt"]["type"] == "shared"
    assert parse_overrides(["a.b=[1, 2]", "c=null"]) == {"a": {"b": [1, 2]}, "c": None}
    assert load_config(None, ["train.lr=4e-3"])["train"]["lr"] == 0.004  # YAML 1.1 reads 4e-3 as a string
    with pytest.raises(ValueError, match="train.lr must be a number"):
        load_config(None, ["train.lr=fast"])


def test_every_shipped_system_config_resolves():
    import glob
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "conf" / "systems"
    files = sorted(glob.glob(str(root / "*.yaml")))
    assert len(files) == 8
    for f in files:
        cfg = load_config(f)
        assert cfg["data"]["train_cuts"] and cfg["data"]["tokenizer"] and cfg["data"]["lang_map"]


def test_cut_filter_counts_each_reason():
    from types import SimpleNamespace

    from prefixasr.train.data import CutFilter, max_tokens_per_frame, prefix_frames

    class Tok:
        def encode(self, text):
            return list(range(len(text.split())))

    def cut(cid, dur, text):
        sup = SimpleNamespace(text=text, language="hi")
        return SimpleNamespace(id=cid, duration=dur, supervisions=[sup], has_features=True, num_frames=int(dur * 100))

    assert prefix_frames(100, 2) == 12 and prefix_frames(3, 1) == 0
    rnnt = {"loss": {"ctc_weight": 0.0, "rnnt_weight": 0.5}, "rnnt": {"prune_range": 5}}
    assert max_tokens_per_frame(rnnt) == 4
    f = CutFilter(Tok(), 0.3, 10.0, stack=2, max_tokens_per_frame=1)
    kept = [c.id for c in [cut("ok", 2.0, "a b c"), cut("short", 0.1, "a"), cut("long", 11.0, "a"),
                           cut("empty", 2.0, ""), cut("dense", 0.5, " ".join("x" * 9))] if f(c)]
    assert kept == ["ok"]
    assert dict(f.counts) == {"duration": 2, "empty text": 1, "too many tokens": 1}


def test_train_lm_reading_exercises_teach_the_lm_to_read_its_prefix(tmp_path):
    corpus = make_corpus(tmp_path / "c", n_utts=60)
    _lm_config(tmp_path, corpus, 2, 0.2, block_size=32, num_steps=400, warmup_steps=10, log_interval=50,
               valid_interval=100, reading_fraction=0.5, reading_error_rate=0.0)
    assert train_lm.main(["--config", str(tmp_path / "lm.yaml"), "--exp-dir", str(tmp_path / "lm")]) == 0
    log = (tmp_path / "lm" / "train_lm.log").read_text()
    reading = [float(x.split(",")[0]) for x in log.split("held-out reading loss ")[1:]]
    errors = [float(x.split("%")[0]) for x in log.split("token errors ")[1:]]
    final_ppl = json.loads((tmp_path / "lm" / "result.json").read_text())["valid_perplexity"]
    # reading an exact copy must beat predicting the text from its own past
    assert reading[-1] < 0.3 * reading[0] and reading[-1] < 0.5 * math.log(final_ppl), (reading, final_ppl)
    assert errors[-1] < 0.5 * errors[0], errors


def test_train_lm_resumes_to_the_same_model(tmp_path, monkeypatch):
    from prefixasr.train import lm as lm_mod

    corpus = make_corpus(tmp_path / "c", n_utts=30)
    _lm_config(tmp_path, corpus, 1, 0.1, block_size=16, num_steps=40, warmup_steps=5, log_interval=10,
               valid_interval=20, reading_fraction=0.25)
    args = ["--config", str(tmp_path / "lm.yaml")]
    assert train_lm.main(args + ["--exp-dir", str(tmp_path / "full")]) == 0

    real, calls = lm_mod.perplexity, {"n": 0}

    def killed_after_step_20(*a, **k):  # validations at steps 0, 20, 40: die in the third
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(lm_mod, "perplexity", killed_after_step_20)
    with pytest.raises(KeyboardInterrupt):
        train_lm.main(args + ["--exp-dir", str(tmp_path / "part")])
    monkeypatch.undo()
    assert train_lm.main(args + ["--exp-dir", str(tmp_path / "part"), "--resume"]) == 0
    assert "resuming from" in (tmp_path / "part" / "train_lm.log").read_text()
    from safetensors.torch import load_file

    a, b = (load_file(tmp_path / d / "hf" / "model.safetensors") for d in ("full", "part"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="train.lr: 0.01 -> 0.02"):
        train_lm.main(args + ["--exp-dir", str(tmp_path / "part"), "--resume", "train.lr=0.02"])


@pytest.mark.parametrize("arch", ["gemma3", "qwen2"])
def test_train_lm_adapts_a_pretrained_llm_and_keeps_its_tokenizer(tmp_path, arch):
    """model.pretrained: a pretrained LLM (its own tokenizer, BOS or not) learns the recipe's text and to read noisy
    copies of it in characters; its adapted directory loads as an LLM with that tokenizer (and the licence notice)."""
    from hf_llm_fixtures import write_tiny_llm
    from transformers import AutoModelForCausalLM

    corpus = make_corpus(tmp_path / "c", n_utts=60)
    texts = (tmp_path / "c" / "text.txt").read_text(encoding="utf-8").splitlines()
    src = write_tiny_llm(arch, tmp_path / "llm", texts)
    (src / "NOTICE.md").write_text("terms of use\n", encoding="utf-8")
    _lm_config(tmp_path, corpus, 2, 0.2, block_size=32, num_steps=150, warmup_steps=10, log_interval=50,
               valid_interval=75, reading_fraction=0.5, reading_error_rate=0.1, reading_noise="characters",
               reading_align_positions=False)
    cfg = yaml.safe_load((tmp_path / "lm.yaml").read_text())
    cfg["model"] = {"pretrained": str(src)}
    cfg["data"]["tokenizer"] = str(src)
    (tmp_path / "lm.yaml").write_text(yaml.safe_dump(cfg))
    exp = tmp_path / "lm"
    assert train_lm.main(["--config", str(tmp_path / "lm.yaml"), "--exp-dir", str(exp)]) == 0
    log = (exp / "train_lm.log").read_text()
    first = float(log.split("step 0: held-out perplexity ")[1].split(";")[0])
    reading = [float(x.split(",")[0]) for x in log.split("held-out reading loss ")[1:]]
    final = json.loads((exp / "result.json").read_text())["valid_perplexity"]
    assert final < 0.5 * first and reading[-1] < 0.7 * reading[0], (first, final, reading)
    from prefixasr.data.tokenizer import Tokenizer
    from prefixasr.train.lm import pack

    tok = Tokenizer.load(src)  # Gemma's rows start with BOS as its pre-training's did; Qwen's have none to start with
    assert bool((pack(texts, tok, 16)[:, 0] == tok.bos_id).all()) == (arch == "gemma3")
    adapted = AutoModelForCausalLM.from_pretrained(str(exp / "hf"))
    assert type(adapted).__name__ == type(AutoModelForCausalLM.from_pretrained(str(src))).__name__
    assert (exp / "hf" / "tokenizer.json").is_file() and (exp / "hf" / "NOTICE.md").is_file()
    # the project's sentencepiece units are not this LLM's tokens: a clear error, not a silent misreading
    cfg["data"]["tokenizer"] = corpus["tokenizer"]
    (tmp_path / "lm.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="its tokenizer do not match"):
        train_lm.main(["--config", str(tmp_path / "lm.yaml"), "--exp-dir", str(tmp_path / "bad")])
