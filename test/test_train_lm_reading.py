"""Reading exercises of LM pre-training: noisy copies at the asked error rate; rows whose text positions
restart at the copy; labels on the text only (that a tiny LM learns to read them: test_train_tools)."""
import random

import torch

from prefixasr.train.lm_reading import IGNORE, corrupt, reading_rows, token_errors


def _edits(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return d[len(b)]


def test_noisy_copies_have_the_asked_error_rate():
    rng = random.Random(0)
    ids = list(range(10, 60))
    for rate in (0.0, 0.2):
        errors = sum(_edits(ids, corrupt(ids, rate, rng)) for _ in range(200)) / (200 * len(ids))
        assert abs(errors - rate) < 0.03, (rate, errors)


def test_rows_restart_positions_and_label_only_the_text():
    rows = reading_rows([[5, 6, 7], [8, 9]], bos=2, eos=3, max_len=16, rate=0.0, rng=random.Random(0))
    ids, labels, pos, mask = rows
    assert ids[0].tolist() == [5, 6, 7, 2, 5, 6, 7, 3] and pos[0].tolist() == [0, 1, 2, 0, 1, 2, 3, 4]
    assert labels[0].tolist() == [IGNORE] * 4 + [5, 6, 7, 3]
    assert ids[1, :6].tolist() == [8, 9, 2, 8, 9, 3] and mask[1].tolist() == [1] * 6 + [0, 0]
    long = reading_rows([list(range(10, 40))], 2, 3, max_len=16, rate=0.5, rng=random.Random(1))[0]
    assert long.size(1) <= 16


def test_token_errors_count_only_labelled_tokens_after_the_shift():
    # cell t predicts label t+1; the copy's cells (IGNORE) are not counted whatever they predict
    labels = torch.tensor([[IGNORE, IGNORE, 5, 6, 7]])
    pred = torch.tensor([[9, 5, 6, 1, 0]])  # predicts 5, 6 right; 1 for 7 wrong; the last cell has no label
    logits = torch.nn.functional.one_hot(pred, 10).float()
    assert abs(token_errors(logits, labels) - 1 / 3) < 1e-6


def test_rows_for_a_pretrained_llm_lead_with_bos_and_run_positions_on():
    copies = iter([[7, 5], [9]])
    ids, labels, pos, _ = reading_rows([[5, 6, 7], [8, 9]], bos=2, eos=3, max_len=16, rate=0.0, rng=random.Random(0),
                                       noisy_copy=lambda s: next(copies), leading_bos=True, restart_positions=False)
    assert ids[0].tolist() == [2, 7, 5, 2, 5, 6, 7, 3] and pos[0].tolist() == list(range(8))
    assert labels[0].tolist() == [IGNORE] * 4 + [5, 6, 7, 3]
    assert ids[1, :6].tolist() == [2, 9, 2, 8, 9, 3]
