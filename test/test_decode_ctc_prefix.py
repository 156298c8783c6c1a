"""The CTC prefix score against brute force: every alignment of a tiny CTC enumerated."""
import itertools
import math

import torch

from prefixasr.decode.ctc_prefix import CtcPrefixScorer

BLANK, EOS, V, T = 0, 3, 4, 5  # labels 1, 2 are characters; 3 (EOS) the CTC never writes


def _collapse(path):
    out, prev = [], BLANK
    for s in path:
        if s != BLANK and s != prev:
            out.append(s)
        prev = s
    return out


def _brute(logp, n, prefix, whole):
    """log P(transcript starts with / equals `prefix`) over the first n frames, all alignments summed."""
    total = -math.inf
    for path in itertools.product(range(3), repeat=n):
        out = _collapse(path)
        if (out == prefix) if whole else (out[: len(prefix)] == prefix):
            total = float(torch.logaddexp(torch.tensor(total), sum(logp[t, s] for t, s in enumerate(path))))
    return total


def test_prefix_scores_equal_brute_force():
    torch.manual_seed(0)
    logp = torch.randn(2, T, V)
    logp[..., EOS] = -30.0
    logp = logp.log_softmax(-1)
    lens = torch.tensor([T, T - 2])  # the second utterance is padded
    for hyp in ([1], [1, 1], [2, 1], [1, 2, 2]):
        scorer = CtcPrefixScorer(logp, lens, BLANK, EOS, unwritable=[EOS])
        psi = torch.zeros(2)
        for k, label in enumerate(hyp):
            inc = scorer.score(torch.tensor([[label, EOS], [label, EOS]]))
            if k == 0:  # EOS on the empty prefix: only blanks
                for row in range(2):
                    assert math.isclose(float(inc[row, 1]), _brute(logp[row], int(lens[row]), [], True), abs_tol=1e-4)
            psi = psi + inc[:, 0]
            scorer.select(torch.arange(2), torch.zeros(2, dtype=torch.long))
            for row in range(2):
                n = int(lens[row])
                want = _brute(logp[row], n, hyp[: k + 1], False)
                if want > -1e9:
                    assert math.isclose(float(psi[row]), want, abs_tol=1e-4), (hyp, k, row)
        end = scorer.score(torch.tensor([[EOS], [EOS]]))[:, 0] + psi
        for row in range(2):
            want = _brute(logp[row], int(lens[row]), hyp, True)
            if want > -1e9:
                assert math.isclose(float(end[row]), want, abs_tol=1e-4), (hyp, row)
    # a label the CTC never writes gets log zero
    fresh = CtcPrefixScorer(logp, lens, BLANK, EOS, unwritable=[EOS])
    assert float(fresh.score(torch.tensor([[1], [BLANK]]))[1, 0]) < -1e9


def test_continuations_read_the_best_path_after_each_prefix():
    """What the CTC reads next, for prefixes that end at different points of its best path (a label on two frames,
    blanks between: 1 1 _ 2 2 _ 2 2 _ 1 1 _ _); a repeated label is read again only after its blank."""
    spelled = [1, 2, 2, 1]
    logp = torch.full((1, 13, V), -20.0)
    logp[..., BLANK] = 0.0
    for k, label in enumerate(spelled):
        logp[:, 3 * k : 3 * k + 2, BLANK] = -20.0
        logp[:, 3 * k : 3 * k + 2, label] = 0.0
    scorer = CtcPrefixScorer(logp.log_softmax(-1), torch.tensor([13]), BLANK, EOS, unwritable=[EOS])
    for k in range(len(spelled) + 1):
        assert scorer.continuations() == [spelled[k:]], k
        assert scorer.proposals() == [spelled[k] if k < len(spelled) else -1]
        if k < len(spelled):
            scorer.score(torch.tensor([[spelled[k]]]))
            scorer.select(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    assert scorer.continuations(max_labels=1) == [[]]
