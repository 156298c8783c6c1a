"""The pruned RNN-T backend against two independent oracles (our reference loss, torchaudio)."""
import pytest
import torch
import torchaudio

from prefixasr.losses import (
    PrunedRnntConfig,
    backend_name,
    full_loss,
    make_boundary,
    prune,
    prune_ranges,
    pruned_loss,
    pruned_rnnt_loss,
    reference_rnnt_loss,
    simple_loss,
)

torch.set_num_threads(1)


def random_batch(B=3, T=7, U=4, V=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, U + 1, V, generator=g, dtype=torch.float64 if False else torch.float32)
    targets = torch.randint(1, V, (B, U), generator=g, dtype=torch.int32)
    # variable lengths, with the longest one filling the padded dims
    logit_lens = torch.tensor([T] + [T - 1 - i for i in range(B - 1)], dtype=torch.int32)
    target_lens = torch.tensor([U - i % 2 for i in range(B)], dtype=torch.int32)
    target_lens[0] = U
    return logits, targets, logit_lens, target_lens


def test_backend_is_named():
    assert backend_name() in ("k2", "fast_rnnt")


@pytest.mark.parametrize("seed", [0, 1])
def test_reference_equals_torchaudio_and_backend(seed):
    logits, targets, logit_lens, target_lens = random_batch(seed=seed)
    outs = {}
    for name in ("reference", "torchaudio", "backend"):
        x = logits.clone().requires_grad_(True)
        if name == "reference":
            loss = reference_rnnt_loss(x, targets.long(), logit_lens, target_lens, blank=0, reduction="sum")
        elif name == "torchaudio":
            loss = torchaudio.functional.rnnt_loss(x, targets, logit_lens, target_lens, blank=0, reduction="sum")
        else:
            boundary = make_boundary(logit_lens.long(), target_lens.long())
            loss = full_loss(x, targets.long(), boundary, blank_id=0, reduction="sum")
        loss.backward()
        outs[name] = (loss.detach(), x.grad)
    ref_loss, ref_grad = outs["reference"]
    for name in ("torchaudio", "backend"):
        loss, grad = outs[name]
        torch.testing.assert_close(loss, ref_loss, rtol=1e-4, atol=1e-4, msg=f"{name} loss")
        # padded positions get zero gradient in all three; compare the whole tensor
        torch.testing.assert_close(grad, ref_grad, rtol=1e-3, atol=1e-4, msg=f"{name} gradient")


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_reductions(reduction):
    logits, targets, logit_lens, target_lens = random_batch()
    boundary = make_boundary(logit_lens.long(), target_lens.long())
    per_utt = full_loss(logits, targets.long(), boundary, reduction="none")
    assert per_utt.shape == (3,)
    got = full_loss(logits, targets.long(), boundary, reduction=reduction)
    want = {"none": per_utt, "sum": per_utt.sum(), "mean": per_utt.mean()}[reduction]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    ref = reference_rnnt_loss(logits, targets.long(), logit_lens, target_lens, reduction=reduction)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def _joiner_inputs(B, T, U, C, V, seed=0):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, requires_grad=True)
    lm = torch.randn(B, U + 1, C, generator=g, requires_grad=True)
    proj = torch.randn(C, V, generator=g) / C**0.5
    return am, lm, proj


def test_pruned_with_full_range_equals_full_loss():
    B, T, U, C, V = 3, 9, 4, 8, 7
    am, lm, proj = _joiner_inputs(B, T, U, C, V)
    symbols = torch.randint(1, V, (B, U), generator=torch.Generator().manual_seed(3))
    x_lens = torch.tensor([T, T - 2, T - 3])
    y_lens = torch.tensor([U, U - 1, U])
    boundary = make_boundary(x_lens, y_lens)

    def joiner(a, l):
        return torch.tanh(a + l) @ proj

    full = full_loss(joiner(am.unsqueeze(2), lm.unsqueeze(1)), symbols, boundary, reduction="none")
    (grad_full,) = torch.autograd.grad(full.sum(), am)

    _, (px_grad, py_grad) = simple_loss(am @ proj, lm @ proj, symbols, boundary)
    ranges = prune_ranges(px_grad, py_grad, boundary, s_range=U + 1)
    am_p, lm_p = prune(am, lm, ranges)
    pruned = pruned_loss(joiner(am_p, lm_p), symbols, ranges, boundary, reduction="none")
    (grad_pruned,) = torch.autograd.grad(pruned.sum(), am)
    torch.testing.assert_close(pruned, full, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grad_pruned, grad_full, rtol=1e-3, atol=1e-4)


def test_pruned_rnnt_loss_gradients_are_finite_and_reach_inputs():
    B, T, U, C, V = 2, 20, 6, 16, 50
    am, lm, proj = _joiner_inputs(B, T, U, C, V, seed=5)
    symbols = torch.randint(1, V, (B, U))
    simple, pruned = pruned_rnnt_loss(
        am_simple=am @ proj,
        lm_simple=lm @ proj,
        am_joiner=am,
        lm_joiner=lm,
        joiner=lambda a, l: torch.tanh(a + l) @ proj,
        symbols=symbols,
        x_lens=torch.tensor([T, T - 5]),
        y_lens=torch.tensor([U, U - 2]),
        config=PrunedRnntConfig(prune_range=3),
    )
    assert simple.item() > 0 and pruned.item() > 0
    (simple + pruned).backward()
    for t in (am, lm):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_pruned_loss_in_float32_under_autocast():
    B, T, U, C, V = 2, 10, 3, 8, 11
    am, lm, proj = _joiner_inputs(B, T, U, C, V)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        simple, pruned = pruned_rnnt_loss(
            am @ proj, lm @ proj, am, lm, lambda a, l: (a + l) @ proj,
            torch.randint(1, V, (B, U)), torch.tensor([T, T]), torch.tensor([U, U]),
        )
    assert simple.dtype == torch.float32 and pruned.dtype == torch.float32
    assert torch.isfinite(simple) and torch.isfinite(pruned)


def test_mismatched_shapes_raise_clear_errors():
    am = torch.randn(2, 5, 4)
    lm = torch.randn(2, 3, 4)
    symbols = torch.randint(1, 4, (2, 3))  # lm should then have 4 positions
    boundary = make_boundary(torch.tensor([5, 5]), torch.tensor([3, 3]))
    with pytest.raises(ValueError, match="U\\+1"):
        simple_loss(am, lm, symbols, boundary)
    with pytest.raises(ValueError, match="batch sizes differ"):
        simple_loss(am[:1], torch.randn(2, 4, 4), symbols, boundary)
    with pytest.raises(ValueError, match="vocab sizes differ"):
        simple_loss(am, torch.randn(2, 4, 5), symbols, boundary)
    with pytest.raises(ValueError, match="exceeds"):
        simple_loss(am, torch.randn(2, 4, 4), symbols, make_boundary(torch.tensor([6, 5]), torch.tensor([3, 3])))
    with pytest.raises(ValueError, match="\\(B,T,U\\+1,V\\)"):
        full_loss(torch.randn(2, 5, 3, 4), symbols, boundary)
    with pytest.raises(ValueError, match="\\(B,\\)"):
        make_boundary(torch.tensor([5, 5]), torch.tensor([3]))
