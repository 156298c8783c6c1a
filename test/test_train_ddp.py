"""Two gloo processes under torchrun on CPU: after a few DDP steps the replicas are identical."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from test_train_fixtures import make_corpus, system_config

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
    tok, langs, _ = load_data_files(cfg)
    resolve_token_ids(cfg, tok)
    model = build_model(cfg, tok.vocab_size, len(langs))
    trainer = Trainer(cfg, exp, model, tok, langs, load_cuts(cfg["data"]["train_cuts"], "train_cuts"), None, info)
    trainer.fit()
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, exp / f"rank{info.rank}.pt")
    print("rank", info.rank, "steps", trainer.step, "batches", trainer.batch_in_epoch)
    dist.cleanup()
""")


@pytest.mark.needs_tool("torchrun")
def test_two_process_gloo_ddp_keeps_replicas_identical(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    corpus = make_corpus(tmp_path / "corpus", n_utts=16)
    cfg = system_config(corpus, num_epochs=2, max_steps=3, scan_pessimistic_batches=False)
    cfg["data"]["loader"]["max_duration"] = 3.0
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    (tmp_path / "run.py").write_text(SCRIPT, encoding="utf-8")
    exp = tmp_path / "exp"
    exp.mkdir()
    cmd = [str(torchrun if torchrun.exists() else "torchrun"), "--standalone", "--nproc_per_node", "2",
           str(tmp_path / "run.py"), str(tmp_path / "c.yaml"), str(exp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "steps 3" in proc.stdout
    a, b = torch.load(exp / "rank0.pt"), torch.load(exp / "rank1.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and training moved them away from rank 0's initial weights
    from prefixasr.model import build_model

    torch.manual_seed(1234)
    init = build_model(cfg, 24, 3).state_dict()
    assert not torch.equal(init["projector.mlp.0.weight"], a["projector.mlp.0.weight"])
