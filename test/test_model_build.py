"""Shapes, masks, batch-vs-single equality, prompts per language, branch gradients."""
import pytest
import torch

from test_model_fixtures import NUM_LANGS, VOCAB, fake_batch, tiny_config
from prefixasr.model import build_model

torch.set_num_threads(1)


def _model(**over):
    torch.manual_seed(0)
    return build_model(tiny_config(**over), VOCAB, NUM_LANGS).eval()


def test_encode_shapes_and_lengths():
    model = _model()
    feats, lens, _, _ = fake_batch()
    prefix, plens = model.encode(feats, lens)
    # x4 subsampling then x2 stacking (ceil)
    expect = (((lens - 1) // 2 - 1) // 2 + 1) // 2
    assert torch.equal(plens, expect)
    assert prefix.shape == (3, int(expect.max()), 32)


def test_llm_prefix_is_left_padded_and_ends_with_bos():
    model = _model()
    feats, lens, _, lang = fake_batch()
    prefix, plens = model.encode_for_llm(feats, lens)
    embeds, mask, positions = model.build_llm_prefix(prefix, plens, lang)
    k = model.soft_prompt.length
    assert mask.shape[1] == k + int(plens.max()) + 1
    assert torch.equal(mask.sum(1), k + plens + 1)
    assert bool(mask[:, -1].all())  # left padding: every row ends at the last column
    bos = model.embed_tokens(torch.tensor([model.bos_id]))[0]
    for i in range(3):
        assert torch.allclose(embeds[i, -1], bos)
        start = mask.shape[1] - int(mask[i].sum())
        assert torch.allclose(embeds[i, start:start + k], model.prompt(lang[i:i + 1])[0])
        assert torch.allclose(embeds[i, start + k:-1], prefix[i, : plens[i]])
        assert float(embeds[i, :start].detach().abs().sum()) == 0.0
        assert positions[i, start:].tolist() == list(range(k + int(plens[i]) + 1))
    aligned = _model(projector={"align_positions": True})
    _, _, moved = aligned.build_llm_prefix(prefix, plens, lang)
    assert torch.equal(moved[:, :-1], positions[:, :-1]) and moved[:, -1].tolist() == [k] * 3  # BOS at the prefix's start


def test_prompts_selected_by_language():
    model = _model()
    p = model.prompt(torch.tensor([0, 1, 0]))
    assert torch.equal(p[0], p[2]) and not torch.equal(p[0], p[1])
    shared = _model(prompt={"type": "shared"})
    q = shared.prompt(torch.tensor([0, 1]))
    assert torch.equal(q[0], q[1])
    assert _model(prompt={"type": "none"}).prompt(torch.tensor([0])) is None


def test_batch_loss_equals_sum_of_single_items():
    model = _model()
    feats, lens, targets, lang = fake_batch()
    _, stats = model(feats, lens, targets, lang, step=100)
    prefix, plens = model.encode(feats, lens)
    single = {k: 0.0 for k in ("ce", "rnnt_simple", "rnnt_pruned", "ctc", "lid")}
    for i in range(3):
        n = int(lens[i])
        _, s = model(feats[i:i + 1, :n], lens[i:i + 1], [targets[i]], lang[i:i + 1], step=100)
        alone, _ = model.encode(feats[i:i + 1, :n], lens[i:i + 1])
        assert torch.allclose(prefix[i, : plens[i]], alone[0], atol=1e-5)  # no leak from padding
        for k in single:
            single[k] += s[k]
    for k, v in single.items():
        assert abs(stats[k] - v) < 1e-4 * max(1.0, abs(v)), (k, stats[k], v)


def test_transducer_interface_for_search():
    model = _model()
    t = model.transducer
    assert t.blank_id == 0 and t.context_size == 2
    dec = t.decoder(torch.tensor([[0, 5], [7, 9]]), need_pad=False)
    assert dec.shape == (2, 1, 16)
    enc = torch.randn(2, 1, 32)
    logits = t.joiner(t.encoder_proj(enc), t.decoder_proj(dec), project_input=False)
    assert logits.shape == (2, 1, VOCAB)
    assert torch.allclose(logits, t.joiner(enc, dec))
    # the contexts search feeds are exactly those training saw: a blank context = the padded start
    sos_y = torch.tensor([[0, 7, 9]])
    train_dec = t.decoder(sos_y)  # (1, 3, C), left-padded
    for u, ctx in enumerate([[0, 0], [0, 7], [7, 9]]):
        assert torch.allclose(train_dec[0, u], t.decoder(torch.tensor([ctx]), need_pad=False)[0, 0], atol=1e-6)


def test_blank_appended_when_tokenizer_has_no_spare_id():
    model = _model(blank_id=None)
    assert model.transducer.blank_id == VOCAB and model.transducer.vocab_size == VOCAB + 1


def test_rnnt_and_ctc_terms_change_the_prefix_gradient():
    feats, lens, targets, lang = fake_batch()

    def prefix_grad(**loss):
        model = _model(loss=loss)
        model.zero_grad()
        loss_value, _ = model(feats, lens, targets, lang, step=5)
        loss_value.backward()
        return model.projector.mlp[-1].weight.grad.clone()

    ce_only = prefix_grad(ce_weight=1.0, rnnt_weight=0.0, ctc_weight=0.0, lid_weight=0.0)
    with_rnnt = prefix_grad(ce_weight=1.0, rnnt_weight=1.0, ctc_weight=0.0, lid_weight=0.0)
    with_ctc = prefix_grad(ce_weight=1.0, rnnt_weight=0.0, ctc_weight=1.0, lid_weight=0.0)
    assert (with_rnnt - ce_only).abs().max() > 1e-6
    assert (with_ctc - ce_only).abs().max() > 1e-6


def test_rnnt_only_system_has_no_llm():
    model = _model(llm={"type": "none"}, prompt={"type": "none"},
                   loss={"ce_weight": 0.0, "rnnt_weight": 1.0, "ctc_weight": 0.0, "lid_weight": 0.0})
    assert not model.has_llm
    feats, lens, targets, lang = fake_batch()
    loss, stats = model(feats, lens, targets, lang)
    assert torch.isfinite(loss) and "ce" not in stats
    assert not any(n.startswith(("llm.", "soft_prompt.")) for n, _ in model.named_parameters())
    prefix, _ = model.encode(feats, lens)
    assert prefix.shape[-1] == 24
    # and it trains: a few steps on the batch lower its transducer loss a lot
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(loss.detach())
    for _ in range(30):
        opt.zero_grad()
        loss, _ = model(feats, lens, targets, lang)
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first, (first, float(loss))


def test_rnnt_warmup_scales():
    model = _model()
    assert model.rnnt_scales(0) == (1.0, 0.1)
    s, p = model.rnnt_scales(10)
    assert abs(s - 0.5) < 1e-9 and abs(p - 1.0) < 1e-9


def test_lid_head_predicts_each_language():
    """Languages that sound different (a per-language spectral pattern, on and off every 4 frames) are told
    apart after training."""
    torch.manual_seed(0)
    model = _model()
    accent = 2.0 * torch.randn(NUM_LANGS, 80)
    on_off = (torch.arange(60) // 4 % 2).float()[None, :, None]

    def batch(n):
        lang = torch.arange(n) % NUM_LANGS
        return torch.randn(n, 60, 80) + on_off * accent[lang][:, None], torch.full((n,), 60), lang

    feats, lens, lang = batch(6)
    assert model.predict_language(feats, lens).shape == (6, NUM_LANGS)
    opt = torch.optim.Adam(list(model.encoder.parameters()) + list(model.lid_head.parameters()), lr=3e-3)
    for _ in range(40):
        feats, lens, lang = batch(6)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model.predict_language(feats, lens), lang).backward()
        opt.step()
    feats, lens, lang = batch(12)  # new utterances
    with torch.no_grad():
        assert torch.equal(model.predict_language(feats, lens).argmax(-1), lang)


def test_prompts_start_from_text_embeddings():
    class Tok:
        def encode(self, text):
            return [5 + len(text) % 7, 9]

    torch.manual_seed(0)
    cfg = tiny_config(prompt={"type": "langid", "init": "text"})
    model = build_model(cfg, VOCAB, NUM_LANGS, tokenizer=Tok(), languages=["hi", "ta", "xx"])
    emb = model.llm.get_input_embeddings().weight
    for i, lang in enumerate(["hi", "ta", "xx"]):
        ids = Tok().encode({"hi": "हिन्दी", "ta": "தமிழ்"}.get(lang, lang))
        expect = emb[[ids[j % 2] for j in range(3)]]
        assert torch.equal(model.soft_prompt.weight[i], expect)


@pytest.mark.parametrize("arch", ["bloom", "qwen2"])
def test_pretrained_hf_llms_batch_like_single(tmp_path, arch):
    """Any HF causal LM directory works (here tiny random BLOOM / Qwen2 built offline)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    conf = AutoConfig.for_model(arch, vocab_size=VOCAB + 5, hidden_size=32, n_layer=2, n_head=2,
                                num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                intermediate_size=64)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(conf).save_pretrained(str(tmp_path / arch))
    cfg = tiny_config(llm={"type": "pretrained", "path": str(tmp_path / arch)}, blank_id=None)
    model = build_model(cfg, VOCAB, NUM_LANGS).eval()
    assert model.transducer.blank_id == VOCAB
    feats, lens, targets, lang = fake_batch()
    _, stats = model(feats, lens, targets, lang)
    single = sum(model(feats[i:i + 1, : int(lens[i])], lens[i:i + 1], [targets[i]], lang[i:i + 1])[1]["ce"]
                 for i in range(3))
    assert abs(stats["ce"] - single) < 1e-4 * single


def test_ctc_compress_averages_runs_and_drops_blanks():
    from prefixasr.model.projector import ctc_compress
    frames = torch.arange(2 * 7, dtype=torch.float32).reshape(2, 7, 1)
    labels = torch.tensor([[0, 5, 5, 0, 5, 7, 7], [0, 0, 0, 0, 9, 9, 9]])
    lens = torch.tensor([7, 3])  # row 1: only blanks inside its length -> one vector, the mean of all
    out, out_lens = ctc_compress(frames, lens, labels, blank_id=0)
    assert out_lens.tolist() == [3, 1]
    assert out[0, :, 0].tolist() == [1.5, 4.0, 5.5]  # a blank splits two runs of the same label
    assert out[1, 0, 0].item() == 8.0  # mean of frames 7, 8, 9: padded frames never count


def test_ctc_compressed_prefix_reaches_the_llm_and_batches_like_single():
    model = _model(projector={"stack": 1, "compress": "ctc"}, loss={"encoder_ctc_weight": 0.5},
                   encoder_ctc={"vocab_size": 6, "blank_id": 0})
    feats, lens, targets, lang = fake_batch()
    with torch.no_grad():
        model.encoder_ctc.proj.bias[0] = -5.0  # a random head: mostly non-blank, so runs vary
        prefix, plens = model.encode_for_llm(feats, lens)
        frames, flens = model.encode(feats, lens)
        assert bool((plens < flens).all()) and bool((plens >= 1).all())
        for i in range(3):
            alone, n = model.encode_for_llm(feats[i:i + 1, : lens[i]], lens[i:i + 1])
            assert int(n) == int(plens[i]) and torch.allclose(alone[0], prefix[i, : plens[i]], atol=1e-5)
    chars = [[1, 2, 3], [4, 5], [1]]
    loss, stats = model.train()(feats, lens, targets, lang, step=5, char_targets=chars)
    loss.backward()
    assert model.projector.mlp[0].weight.grad.abs().sum() > 0 and "encoder_ctc" in stats


def test_a_script_mask_makes_the_encoder_ctc_read_only_allowed_labels():
    model = _model(projector={"stack": 1, "compress": "ctc", "token_bridge": "ctc"}, loss={"encoder_ctc_weight": 0.5},
                   encoder_ctc={"vocab_size": VOCAB, "blank_id": 0})
    feats, lens, _, _ = fake_batch()
    with torch.no_grad():
        model.encoder_ctc.proj.bias[0] = -5.0
        prefix, plens, logp, _ = model.encode_for_llm_and_ctc(feats, lens)
        read = logp.argmax(-1)
        allowed = torch.ones(3, VOCAB, dtype=torch.bool)
        allowed[:, read.unique()] = False  # rule out every label the CTC read, but keep some to read
        allowed[:, 0] = False  # blank is always kept
        m_prefix, m_plens, m_logp, _ = model.encode_for_llm_and_ctc(feats, lens, allowed)
        kept = allowed.clone()
        kept[:, 0] = True
        assert float(m_logp.masked_fill(kept[:, None, :], -1e30).logsumexp(-1).max()) < -1e3
        assert torch.allclose(m_logp.exp().sum(-1), torch.ones(m_logp.shape[:2]), atol=1e-4)
        # the LLM's prefix follows: other runs (compression) and other soft characters (bridge)
        assert not torch.equal(m_plens, plens) or not torch.allclose(m_prefix[:, : int(plens.min())],
                                                                     prefix[:, : int(plens.min())])
        with pytest.raises(ValueError, match="script mask"):
            model.ctc_logits(model.encoder(feats, lens)[0], allowed[:, :5])


def test_ctc_compress_needs_stack_one_and_the_encoder_ctc():
    with pytest.raises(ValueError, match="compress=ctc"):
        _model(projector={"compress": "ctc"}, loss={"encoder_ctc_weight": 0.5}, encoder_ctc={"vocab_size": 6})
    with pytest.raises(ValueError, match="compress=ctc"):
        _model(projector={"stack": 1, "compress": "ctc"})


def test_aligned_positions_train_and_search_agree():
    from prefixasr.decode.llm_search import llm_greedy
    model = _model(projector={"stack": 1, "compress": "ctc", "align_positions": True},
                   loss={"encoder_ctc_weight": 0.5}, encoder_ctc={"vocab_size": 6, "blank_id": 0})
    feats, lens, targets, lang = fake_batch()
    chars = [[1, 2, 3], [4, 5], [1]]
    with torch.no_grad():
        model.encoder_ctc.proj.bias[0] = -5.0
        _, stats = model(feats, lens, targets, lang, step=5, char_targets=chars)
        ce = sum(model(feats[i:i + 1, : lens[i]], lens[i:i + 1], [targets[i]], lang[i:i + 1], step=5,
                       char_targets=[chars[i]])[1]["ce"] for i in range(3))
        assert abs(stats["ce"] - ce) < 1e-4 * ce
        embeds, mask, pos = model.build_llm_prefix(*model.encode_for_llm(feats, lens), lang)
        hyps = llm_greedy(model, embeds, mask, [6] * 3, positions=pos)
        assert llm_greedy(model, embeds, mask, [6] * 3, use_cache=False, positions=pos) == hyps
        for i in range(3):
            one = model.build_llm_prefix(*model.encode_for_llm(feats[i:i + 1, : lens[i]], lens[i:i + 1]), lang[i:i + 1])
            assert llm_greedy(model, one[0], one[1], [6], positions=one[2]) == [hyps[i]]
        # teacher forcing on the greedy output (the training path's positions) predicts that same output
        hyp = hyps[0]
        assert hyp, "the random model must emit something for this check to mean anything"
        prefix, plens = model.encode_for_llm(feats[:1, : lens[0]], lens[:1])
        text = model.embed_tokens(torch.tensor([[model.bos_id, *hyp]]))
        emb, m, start = model._assemble(prefix, plens, lang[:1], text, torch.tensor([len(hyp) + 1]), left_pad=False)
        logits = model.llm(inputs_embeds=emb, attention_mask=m, position_ids=model.position_ids(m, start, plens)).logits
        assert logits[0, int(start[0]): int(start[0]) + len(hyp)].argmax(-1).tolist() == hyp


def test_the_ctc_text_follows_the_prefix_in_the_llms_tokens():
    from prefixasr.model.heads import ctc_best_path

    labels = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 3], [0, 0, 4, 4, 4, 0, 0, 0]])
    assert ctc_best_path(labels, torch.tensor([7, 8]), blank_id=0) == [([1, 1, 2], [0, 3, 4]), ([4], [2])]
    over = dict(projector={"stack": 1, "compress": "ctc"}, loss={"encoder_ctc_weight": 0.5},
                encoder_ctc={"vocab_size": 6, "blank_id": 0})
    model = _model(**over)
    feats, lens, targets, lang = fake_batch()
    with torch.no_grad():
        model.encoder_ctc.proj.bias[0] = -5.0  # a random CTC that says something
        enc, enc_lens, prefix, plens = model._encode(feats, lens)
        base, base_lens = model.llm_prefix(enc, enc_lens, prefix, plens)
        said = [t for t, _ in ctc_best_path(model.ctc_logits(enc).argmax(-1), enc_lens, model.encoder_ctc.blank_id)]
        assert any(said), "the check below needs a CTC that says something"
        model.ctc_text = lambda chars: [VOCAB - 1 - c for c in chars] + [7]  # characters -> "the LLM's tokens"
        got, got_lens = model.llm_prefix(enc, enc_lens, prefix, plens)
        for i, chars in enumerate(said):
            n, ids = int(base_lens[i]), torch.tensor(model.ctc_text(chars))
            assert int(got_lens[i]) == n + len(ids)
            assert torch.equal(got[i, :n], base[i, :n])  # the speech prefix as it was, then the CTC's text
            assert torch.equal(got[i, n: n + len(ids)], model.embed_tokens(ids))
            assert not got[i, n + len(ids):].any()
        chars = [[1, 2], [3], [4, 5, 1]]
        loss, stats = model(feats, lens, targets, lang, step=5, char_targets=chars)
        assert torch.isfinite(loss) and stats["ce"] > 0
    with pytest.raises(ValueError, match="ctc_text needs the LLM's tokenizer"):
        build_model(tiny_config(projector={"ctc_text": True}, loss={"encoder_ctc_weight": 0.5},
                                encoder_ctc={"vocab_size": 6, "blank_id": 0}), VOCAB, NUM_LANGS)
    with pytest.raises(ValueError, match="encoder_ctc_weight > 0"):
        build_model(tiny_config(projector={"ctc_text": True}), VOCAB, NUM_LANGS)
