"""LLM and RNN-T search on a tiny random model: cache == no cache, beam 1 == greedy, batch == single."""
import pytest
import torch

from test_model_fixtures import NUM_LANGS, VOCAB, fake_batch, tiny_config
from prefixasr.decode.ctc_prefix import CtcPrefixScorer
from prefixasr.decode.llm_search import LlmSearchConfig, llm_beam, llm_greedy, token_limits
from prefixasr.decode.rnnt_search import rnnt_beam, rnnt_greedy
from prefixasr.model import build_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg["model"]["llm"]["arch"]["tie_word_embeddings"] = False
    # unit-scale prefix frames (no LLM-scale norm): the sharpened random joiner then varies frame to frame
    cfg["model"]["projector"]["match_llm_scale"] = False
    model = build_model(cfg, VOCAB, NUM_LANGS).eval()
    # a freshly initialised model repeats one token (LLM) or never emits blank (RNN-T); sharpen it so
    # that searches disagree and outputs vary: the equalities below then mean something
    with torch.no_grad():
        for p in model.llm.parameters():
            if p.dim() > 1:
                p.mul_(3.0)
        model.transducer.joiner.output_linear.weight.mul_(8.0)
        model.transducer.joiner.output_linear.bias[model.transducer.blank_id] += 1.0
    feats, lens, _, lang = fake_batch(lens=(160, 120, 90, 64))
    with torch.inference_mode():
        prefix, plens = model.encode_for_llm(feats, lens)
        embeds, mask, _ = model.build_llm_prefix(prefix, plens, lang)
    return model, prefix, plens, lang, embeds, mask


def _single(model, prefix, plens, lang, i):
    with torch.inference_mode():
        return model.build_llm_prefix(prefix[i : i + 1, : plens[i]], plens[i : i + 1], lang[i : i + 1])[:2]


def _jittered(module, scale, seed):
    """A forward hook adding noise of `scale` x the output's largest magnitude to `module`'s output."""
    gen = torch.Generator().manual_seed(seed)

    def hook(mod, inputs, output):
        noise = torch.rand(output.shape, generator=gen, dtype=output.dtype) * 2 - 1
        return output + noise * scale * output.abs().max()

    return module.register_forward_hook(hook)


def test_the_searches_decide_with_margins_above_float_noise(setup):
    # The equalities below (cache == no cache, batch == single, beam 1 == greedy) compare token choices made
    # from logits that two code paths compute in different summation orders, equal only to ~1e-6 of their size,
    # and by a different amount on each CPU. They are what the maths makes equal only if no choice is a near-tie:
    # this shows every choice on this fixture survives noise a hundred times larger, on any CPU.
    model, prefix, plens, lang, embeds, mask = setup
    tr = model.transducer
    searches = {
        "llm_greedy": lambda: llm_greedy(model, embeds, mask, [30] * 4, LlmSearchConfig(repetition_penalty=1.3)),
        "llm_beam": lambda: llm_beam(model, embeds, mask, [20] * 4, LlmSearchConfig(beam=4)),
        "rnnt_greedy": lambda: rnnt_greedy(tr, prefix, plens),
        "rnnt_beam": lambda: rnnt_beam(tr, prefix, plens, beam=4),
    }
    for name, search in searches.items():
        clean = search()
        for seed in range(3):
            handles = [_jittered(model.llm.get_output_embeddings(), 1e-4, seed),
                       _jittered(tr.joiner.output_linear, 1e-4, seed)]
            try:
                assert search() == clean, (name, seed)
            finally:
                for h in handles:
                    h.remove()


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_cache_equals_no_cache(setup, penalty):
    model, prefix, plens, lang, embeds, mask = setup
    cfg = LlmSearchConfig(repetition_penalty=penalty)
    limits = [30, 25, 12, 30]
    with_cache = llm_greedy(model, embeds, mask, limits, cfg, use_cache=True)
    without = llm_greedy(model, embeds, mask, limits, cfg, use_cache=False)
    assert with_cache == without
    assert [len(h) for h in with_cache] <= limits and all(len(h) <= n for h, n in zip(with_cache, limits))
    assert all(model.eos_id not in h for h in with_cache)


def test_greedy_batch_equals_single(setup):
    model, prefix, plens, lang, embeds, mask = setup
    batch = llm_greedy(model, embeds, mask, [20] * 4)
    for i in range(4):
        e, m = _single(model, prefix, plens, lang, i)
        assert llm_greedy(model, e, m, [20]) == [batch[i]]


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_beam1_equals_greedy(setup, penalty):
    model, prefix, plens, lang, embeds, mask = setup
    greedy = llm_greedy(model, embeds, mask, [20] * 4, LlmSearchConfig(repetition_penalty=penalty))
    beam = llm_beam(model, embeds, mask, [20] * 4, LlmSearchConfig(beam=1, repetition_penalty=penalty))
    assert beam == greedy
    assert llm_beam(model, embeds, mask, [20] * 4, LlmSearchConfig(beam=4, repetition_penalty=penalty)) != greedy


def test_beam4_batch_equals_single_and_respects_limits(setup):
    model, prefix, plens, lang, embeds, mask = setup
    cfg = LlmSearchConfig(beam=4)
    limits = [15, 10, 5, 15]
    batch = llm_beam(model, embeds, mask, limits, cfg)
    assert all(len(h) <= n for h, n in zip(batch, limits))
    for i in range(4):
        e, m = _single(model, prefix, plens, lang, i)
        assert llm_beam(model, e, m, [limits[i]], cfg) == [batch[i]]


def test_eos_ends_rows_independently(setup):
    model, prefix, plens, lang, embeds, mask = setup
    step = {"n": 0}

    def boost_eos(module, inputs, output):
        # row 0 says EOS at once; every row says EOS from the 4th call on
        output[0, :, model.eos_id] += 100.0
        if step["n"] >= 3:
            output[:, :, model.eos_id] += 100.0
        step["n"] += 1
        return output

    handle = model.llm.get_output_embeddings().register_forward_hook(boost_eos)
    try:
        hyps = llm_greedy(model, embeds, mask, [50] * 4)
        step["n"] = 0
        beams = llm_beam(model, embeds, mask, [50] * 4, LlmSearchConfig(beam=2))
    finally:
        handle.remove()
    assert hyps[0] == [] and [len(h) for h in hyps[1:]] == [3, 3, 3]
    assert beams[0] == [] and all(len(h) <= 3 for h in beams)


def test_token_limits_follow_prefix_length():
    cfg = LlmSearchConfig(max_new_tokens=40, max_tokens_per_frame=0.5)
    assert token_limits(torch.tensor([10, 3, 200, 0]), cfg) == [5, 2, 40, 1]


def test_rnnt_greedy_batch_single_and_beam1(setup):
    model, prefix, plens, lang, embeds, mask = setup
    tr = model.transducer
    greedy = rnnt_greedy(tr, prefix, plens)
    for i in range(4):
        assert rnnt_greedy(tr, prefix[i : i + 1, : plens[i]], plens[i : i + 1]) == [greedy[i]]
    assert rnnt_beam(tr, prefix, plens, beam=1) == greedy
    assert any(len(set(f)) < len(f) for _, f in rnnt_greedy(tr, prefix, plens, max_sym_per_frame=3))
    assert rnnt_beam(tr, prefix, plens, beam=4) != greedy  # the search matters on this model


def test_rnnt_beam4(setup):
    model, prefix, plens, lang, embeds, mask = setup
    tr = model.transducer
    hyps = rnnt_beam(tr, prefix, plens, beam=4)
    for (toks, frames), n in zip(hyps, plens.tolist()):
        assert tr.blank_id not in toks and len(toks) == len(frames)
        assert frames == sorted(frames) and all(0 <= f < n for f in frames)
        assert len(set(frames)) == len(frames)  # at most one symbol per frame
    for i in range(4):
        assert rnnt_beam(tr, prefix[i : i + 1, : plens[i]], plens[i : i + 1], beam=4) == [hyps[i]]


def _sequence_logprob(model, embeds, mask, tokens, ended):
    """log p(tokens [+ EOS] | prefix) by one teacher-forced pass: how the searches rank hypotheses."""
    ids = torch.tensor(tokens + ([model.eos_id] if ended else []))
    with torch.inference_mode():
        x = torch.cat([embeds, model.embed_tokens(ids[:-1])[None]], 1)
        m = torch.cat([mask, torch.ones(1, len(ids) - 1, dtype=mask.dtype)], 1)
        logits = model.llm(inputs_embeds=x, attention_mask=m, position_ids=m.long().cumsum(-1) - 1).logits
    logp = logits[0, -len(ids):].log_softmax(-1)
    return float(logp[torch.arange(len(ids)), ids].sum())


def test_beam_finds_hypotheses_at_least_as_likely_as_greedy(setup):
    model, prefix, plens, lang, embeds, mask = setup
    limit, gains = 12, []  # (longer, a beam of 4 can prune the greedy path: search is not exact)
    for i in range(4):
        e, m = _single(model, prefix, plens, lang, i)
        greedy = llm_greedy(model, e, m, [limit])[0]
        beam = llm_beam(model, e, m, [limit], LlmSearchConfig(beam=4, length_penalty=0.0))[0]
        scores = [_sequence_logprob(model, e, m, h, ended=len(h) < limit) for h in (greedy, beam)]
        assert scores[1] >= scores[0] - 1e-4, (i, greedy, beam, scores)
        gains.append(scores[1] - scores[0])
    assert max(gains) > 0.01, "on this model the beam must find something better than greedy somewhere"


def _peaked_ctc(b, spelled, t=24, v=VOCAB, blank=0):
    """CTC log-posteriors that read `spelled` with certainty (each label on two frames, blanks between)."""
    logp = torch.full((b, t, v), -20.0)
    logp[..., blank] = 0.0
    for k, label in enumerate(spelled):
        logp[:, 3 * k : 3 * k + 2, blank] = -20.0
        logp[:, 3 * k : 3 * k + 2, label] = 0.0
    return logp.log_softmax(-1)


@pytest.mark.parametrize("beam", [1, 4])
def test_joint_ctc_decoding_writes_what_the_audio_holds(setup, beam):
    model, prefix, plens, lang, embeds, mask = setup
    spelled = [5, 9, 9, 12]  # the repeated label needs the blank the CTC put between its frames
    limits = [20] * 4
    alone = llm_beam(model, embeds, mask, limits, LlmSearchConfig(beam=beam))
    assert all(h != spelled for h in alone), "the random LLM alone writes something else"
    cfg = LlmSearchConfig(beam=beam, ctc_weight=0.9, ctc_candidates=VOCAB - 1)
    ctc = CtcPrefixScorer(_peaked_ctc(4, spelled), torch.full((4,), 24), 0, model.eos_id, [model.bos_id])
    assert llm_beam(model, embeds, mask, limits, cfg, ctc=ctc) == [spelled] * 4
    with pytest.raises(ValueError, match="needs both"):
        llm_beam(model, embeds, mask, limits, cfg)


@pytest.mark.parametrize("beam", [1, 4])
def test_ctc_proposals_reach_what_the_llms_best_tokens_miss(setup, beam):
    """With only the LLM's best token (and EOS) to score, the joint search cannot write what the audio holds; the
    CTC's proposal beside them gives it the way."""
    model, prefix, plens, lang, embeds, mask = setup
    spelled = [5, 9, 9, 12]
    limits = [20] * 4
    ctc = lambda: CtcPrefixScorer(_peaked_ctc(4, spelled), torch.full((4,), 24), 0, model.eos_id, [model.bos_id])
    narrow = LlmSearchConfig(beam=beam, ctc_weight=0.9, ctc_candidates=1)
    assert all(h != spelled for h in llm_beam(model, embeds, mask, limits, narrow, ctc=ctc()))
    proposing = LlmSearchConfig(beam=beam, ctc_weight=0.9, ctc_candidates=1, ctc_propose=True)
    assert llm_beam(model, embeds, mask, limits, proposing, ctc=ctc()) == [spelled] * 4


def _ban_what_is_written(hyps, v, extra=()):
    """(B, V) masks that rule out, per row, every token the unmasked search wrote (plus `extra`)."""
    allowed = torch.ones(len(hyps), v, dtype=torch.bool)
    for i, h in enumerate(hyps):
        allowed[i, list(set(h) | set(extra))] = False
    return allowed


def test_every_search_writes_only_allowed_tokens(setup):
    model, prefix, plens, lang, embeds, mask = setup
    v, tr, limits = model.llm.get_input_embeddings().num_embeddings, model.transducer, [15] * 4
    searches = {
        "llm_greedy": lambda a: llm_greedy(model, embeds, mask, limits, allowed=a),
        "llm_beam": lambda a: llm_beam(model, embeds, mask, limits, LlmSearchConfig(beam=4), allowed=a),
        "llm_joint": lambda a: llm_beam(model, embeds, mask, limits, LlmSearchConfig(beam=2, ctc_weight=0.3),
                                        ctc=CtcPrefixScorer(_peaked_ctc(4, [5, 9, 12]), torch.full((4,), 24), 0,
                                                            model.eos_id, [model.bos_id]), allowed=a),
        "rnnt_greedy": lambda a: [t for t, _ in rnnt_greedy(tr, prefix, plens, allowed=a)],
        "rnnt_beam": lambda a: [t for t, _ in rnnt_beam(tr, prefix, plens, beam=4, allowed=a)],
    }
    for name, search in searches.items():
        free = search(None)
        width = tr.joiner.output_linear.out_features if name.startswith("rnnt") else v
        assert any(free), name
        # keep EOS and blank: a search must be able to stop
        allowed = _ban_what_is_written(free, width)
        allowed[:, [model.eos_id, tr.blank_id]] = True
        masked = search(allowed)
        assert all(allowed[i, t] for i, h in enumerate(masked) for t in h), name
        assert any(masked), f"{name}: the mask leaves other tokens to write"
