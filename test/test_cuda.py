"""The GPU path: the pruned RNN-T backend's CUDA kernels against its CPU ones, a system's loss on the GPU under
bf16 autocast against fp32 on the CPU, and a tiny system trained with train.device=cuda that decodes its training
set on the GPU. Skipped where torch sees no CUDA device (CI); on a GPU machine:

    python -m pytest test/test_cuda.py
"""
import pytest
import torch

from prefixasr import losses
from prefixasr.model import build_model
from test_model_fixtures import NUM_LANGS, VOCAB, fake_batch, tiny_config
from test_train_fixtures import memorise_and_decode

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


def _lattice_case(seed: int, b: int = 4, t: int = 50, s: int = 12, v: int = 30):
    g = torch.Generator().manual_seed(seed)
    symbols = torch.randint(1, v, (b, s), generator=g)
    t_lens = torch.tensor([t, t - 7, t - 15, t - 20][:b])
    s_lens = torch.tensor([s, s - 2, s - 5, s - 6][:b])
    return symbols, losses.make_boundary(t_lens, s_lens), torch.randn(b, t, v, generator=g), \
        torch.randn(b, s + 1, v, generator=g)


def test_pruned_rnnt_backend_on_cuda_equals_cpu():
    for seed in range(3):
        symbols, boundary, am, lm = _lattice_case(seed)
        out = {}
        for dev in ("cpu", "cuda"):
            a, l_ = (x.detach().clone().to(dev).requires_grad_(True) for x in (am, lm))
            simple, (px_grad, py_grad) = losses.simple_loss(a, l_, symbols.to(dev), boundary.to(dev))
            ranges = losses.prune_ranges(px_grad, py_grad, boundary.to(dev), s_range=4)
            am_p, lm_p = losses.prune(a, l_, ranges)
            pruned = losses.pruned_loss(am_p + lm_p, symbols.to(dev), ranges, boundary.to(dev))
            (simple + pruned).backward()
            out[dev] = [x.detach().cpu() for x in (simple, pruned, ranges, a.grad, l_.grad)]
        for name, c, g in zip(("simple", "pruned", "ranges", "am grad", "lm grad"), out["cpu"], out["cuda"]):
            assert torch.allclose(c.float(), g.float(), rtol=1e-4, atol=1e-4), (seed, name)


@pytest.mark.parametrize("system", [{}, {"prompt": {"type": "none"}, "loss": {"rnnt_weight": 0.0}},
                                    {"llm": {"type": "none"}}])
def test_bf16_loss_on_cuda_is_the_fp32_loss_on_cpu(system):
    torch.manual_seed(0)
    cfg = tiny_config(**system)
    model = build_model(cfg, VOCAB, NUM_LANGS).eval()
    features, feature_lens, targets, lang_ids = fake_batch()
    with torch.no_grad():
        ref, ref_stats = model(features, feature_lens, targets, lang_ids, step=100)
        model.to(CUDA)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got, got_stats = model(features.to(CUDA), feature_lens.to(CUDA), targets, lang_ids.to(CUDA), step=100)
    assert torch.isfinite(got)
    # bf16 keeps 8 bits of mantissa: the per-token loss agrees to about a percent
    assert abs(float(got) - float(ref)) <= 0.02 * abs(float(ref)) + 1e-3, (float(got), float(ref))
    assert set(got_stats) == set(ref_stats)


def test_tiny_system_trains_on_cuda_in_bf16_and_decodes_there(tmp_path):
    r = memorise_and_decode(tmp_path, decode_device="cuda", device="cuda", amp="bf16")
    assert r["device"] == "cuda"
    for hyps in (r["llm"], r["rnnt"]):
        assert sum(h == t for h, t in zip(hyps, r["texts"])) >= len(r["texts"]) - 1, (hyps, r["texts"])
