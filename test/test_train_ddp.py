"""Two gloo processes under torchrun on CPU: after a few DDP steps the replicas are identical, and one DDP step over
two batches hands the optimiser the gradient one process computes over their union."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from test_train_fixtures import gradients_close, make_corpus, system_config

SCRIPT = textwrap.dedent("""
    import sys, torch, yaml
    from pathlib import Path
    from prefixasr.model import build_model
    from prefixasr.train import dist
    from prefixasr.train.config import load_config
    from prefixasr.train.data import load_cuts
    from prefixasr.train.experiment import load_data_files, resolve_token_ids
    from prefixasr.train.trainer import Trainer

    cfg_path, exp = sys.argv[1], Path(sys.argv[2])
    cfg = load_config(cfg_path)
    info = dist.setup("cpu")
    torch.set_num_threads(1)
    torch.manual_seed(1234 + info.rank)  # different init per rank: DDP must broadcast rank 0's weights
    vocabs, langs = load_data_files(cfg)
    resolve_token_ids(cfg, vocabs)
    model = build_model(cfg, vocabs.llm.vocab_size, len(langs), vocabs=vocabs)
    trainer = Trainer(cfg, exp, model, vocabs, langs, load_cuts(cfg["data"]["train_cuts"], "train_cuts"), None, info)
    grads, real_step = {}, trainer._optimizer_step

    def record_first_gradients():  # what the optimiser is handed at the first step (after DDP's all-reduce)
        if not grads:
            grads.update({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})
        real_step()

    trainer._optimizer_step = record_first_gradients
    trainer.fit()
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, exp / f"rank{info.rank}.pt")
    torch.save(grads, exp / f"grads{info.rank}.pt")
    print("rank", info.rank, "steps", trainer.step, "batches", trainer.batch_in_epoch)
    dist.cleanup()
""")


def _torchrun(tmp_path, cfg: dict, exp: Path, nproc: int) -> subprocess.CompletedProcess:
    """The training SCRIPT on `nproc` gloo processes under torchrun (nproc 0: one plain process, no torchrun)."""
    torchrun = Path(sys.executable).parent / "torchrun"
    (tmp_path / f"{exp.name}.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    (tmp_path / "run.py").write_text(SCRIPT, encoding="utf-8")
    exp.mkdir()
    launch = ([str(torchrun if torchrun.exists() else "torchrun"), "--standalone", "--nproc_per_node", str(nproc)]
              if nproc else [sys.executable])
    cmd = launch + [str(tmp_path / "run.py"), str(tmp_path / f"{exp.name}.yaml"), str(exp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.needs_tool("torchrun")
def test_two_process_gloo_ddp_keeps_replicas_identical(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", n_utts=16)
    cfg = system_config(corpus, num_epochs=2, max_steps=3, scan_pessimistic_batches=False)
    cfg["data"]["loader"]["max_duration"] = 3.0
    exp = tmp_path / "exp"
    proc = _torchrun(tmp_path, cfg, exp, 2)
    assert "steps 3" in proc.stdout
    a, b = torch.load(exp / "rank0.pt"), torch.load(exp / "rank1.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and training moved them away from rank 0's initial weights
    from prefixasr.model import build_model

    torch.manual_seed(1234)
    init = build_model(cfg, 24, 3).state_dict()
    assert not torch.equal(init["projector.mlp.0.weight"], a["projector.mlp.0.weight"])


@pytest.mark.needs_tool("torchrun")
def test_one_ddp_step_equals_one_process_on_the_union_of_batches(tmp_path):
    # four utterances of one text (equal lengths and token counts, so the mean of two per-token losses over two
    # utterances each is the per-token loss over four), no dropout, no shuffling, one optimiser step. The gradients
    # handed to the optimiser are compared, not the weights after its Adam step: Adam divides by the gradient's
    # own size, so summation-order noise on a gradient that is truly zero (the key part of a qkv bias) becomes a
    # step of the learning rate's size, different from one CPU to another (test_train_loop's accumulation test).
    corpus = make_corpus(tmp_path / "corpus", n_utts=4, text="abcde fghij")
    grads = {}
    for name, nproc, max_duration in (("ddp", 2, 2.0), ("union", 0, 4.0), ("half", 0, 2.0)):
        cfg = system_config(corpus, num_epochs=1, max_steps=1, scan_pessimistic_batches=False, warmup_steps=1)
        cfg["model"]["encoder"]["dropout"] = 0.0
        cfg["data"]["loader"].update(max_duration=max_duration * 0.66, shuffle=False)
        proc = _torchrun(tmp_path, cfg, tmp_path / name, nproc)
        assert "steps 1 batches 1" in proc.stdout, f"{name}: one batch per process for one step"
        grads[name] = torch.load(tmp_path / name / "grads0.pt")
    assert grads["union"] and grads["ddp"].keys() == grads["union"].keys()
    for k, g in grads["union"].items():  # two ranks with a batch each: the gradient of one process with both ...
        assert gradients_close(grads["ddp"][k], g), (k, float((grads["ddp"][k] - g).norm()), float(g.norm()))
    # ... and not of one of the batches alone (the comparison can tell them apart)
    assert any(not gradients_close(grads["half"][k], g) for k, g in grads["union"].items())
