"""Pruned RNN-T loss (k2 if importable, else fast_rnnt) and a reference loss for tests."""
from prefixasr.losses.reference import reference_rnnt_loss
from prefixasr.losses.rnnt import (
    PrunedRnntConfig,
    backend_name,
    full_loss,
    get_backend,
    make_boundary,
    prune,
    prune_ranges,
    pruned_loss,
    pruned_rnnt_loss,
    simple_loss,
)

__all__ = [
    "PrunedRnntConfig",
    "backend_name",
    "full_loss",
    "get_backend",
    "make_boundary",
    "prune",
    "prune_ranges",
    "pruned_loss",
    "pruned_rnnt_loss",
    "reference_rnnt_loss",
    "simple_loss",
]
