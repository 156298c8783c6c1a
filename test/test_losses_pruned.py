"""losses.pruned_loss equals the backend's rnnt_loss_pruned (value and gradients) and the full loss
when the prune range covers every symbol."""
import torch

from prefixasr import losses

torch.set_num_threads(1)


def _case(seed=0, b=3, t=9, s=5, v=11, s_range=3):
    g = torch.Generator().manual_seed(seed)
    symbols = torch.randint(1, v, (b, s), generator=g)
    t_lens = torch.tensor([t, t - 2, t - 4])
    s_lens = torch.tensor([s, s - 1, s - 3])
    boundary = losses.make_boundary(t_lens, s_lens)
    am = torch.randn(b, t, v, generator=g)
    lm = torch.randn(b, s + 1, v, generator=g)
    _, (pxg, pyg) = losses.simple_loss(am, lm, symbols, boundary)
    ranges = losses.prune_ranges(pxg, pyg, boundary, s_range)
    logits = torch.randn(b, t, s_range, v, generator=g)
    return logits, symbols, ranges, boundary


def test_equals_backend_pruned_loss_and_gradient():
    for seed in range(3):
        logits, symbols, ranges, boundary = _case(seed)
        a = logits.clone().requires_grad_(True)
        ref = losses.get_backend().rnnt_loss_pruned(logits=a, symbols=symbols, ranges=ranges, termination_symbol=0,
                                                    boundary=boundary, reduction="sum")
        ref.backward()
        b_ = logits.clone().requires_grad_(True)
        ours = losses.pruned_loss(b_, symbols, ranges, boundary, blank_id=0)
        ours.backward()
        assert torch.allclose(ours, ref, rtol=1e-5), (float(ours), float(ref))
        assert torch.allclose(b_.grad, a.grad, atol=1e-5)


def test_full_range_equals_unpruned_reference():
    g = torch.Generator().manual_seed(7)
    b, t, s, v = 2, 6, 3, 7
    symbols = torch.randint(1, v, (b, s), generator=g)
    boundary = losses.make_boundary(torch.tensor([t, t]), torch.tensor([s, s]))
    full = torch.randn(b, t, s + 1, v, generator=g)
    ranges = torch.arange(s + 1).expand(b, t, s + 1).contiguous()  # every symbol position kept
    ours = losses.pruned_loss(full, symbols, ranges, boundary, blank_id=0)
    ref = losses.full_loss(full, symbols, boundary, blank_id=0)
    assert torch.allclose(ours, ref, rtol=1e-5), (float(ours), float(ref))
