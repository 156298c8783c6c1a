"""Pretrained LLMs with their own tokenizers (tiny random Gemma 3 and Qwen2 on disk) through the recipe's tools: train
(LoRA / frozen / fine-tuned), decode with every search (joint CTC, n-gram, script masks, word penalty: all in the
project's units, through the text), pack, reload; the two vocabularies; the LLM's own embedding scale and BOS."""
import json
import tarfile

import pytest
import torch
import yaml

from hf_llm_fixtures import write_tiny_llm
from test_train_fixtures import make_corpus, system_config
from prefixasr.bin import augment_cer
from prefixasr.bin import decode as decode_cli
from prefixasr.bin import pack as pack_cli
from prefixasr.bin import search_errors
from prefixasr.bin import train as train_cli
from prefixasr.bin import train_ngram
from prefixasr.checkpoints import load_checkpoint
from prefixasr.model import load_model

torch.set_num_threads(1)

SETTINGS = {  # arch -> how the LLM trains, which units the token bridge carries, whether the CTC's text follows
    "gemma3": {"llm": {"lora": {"rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}},
               "bridge": "rnnt", "ctc_text": False},
    "qwen2": {"llm": {"freeze": True}, "bridge": "ctc", "ctc_text": True},
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), n_utts=12)


def _texts(corpus):
    from lhotse import load_manifest

    return [c.supervisions[0].text for c in load_manifest(corpus["cuts"])]


def _system(tmp_path, corpus, arch):
    llm_dir = write_tiny_llm(arch, tmp_path / arch, _texts(corpus) * 4)
    ngram, text = tmp_path / "ngram.npz", tmp_path / "lm.txt"
    text.write_text("\n".join(_texts(corpus)) + "\n", encoding="utf-8")
    assert train_ngram.main(["--text", str(text), "--tokenizer", corpus["tokenizer"], "--order", "3",
                             "--output", str(ngram), "--log-level", "WARNING"]) == 0  # over the units
    cfg = system_config(corpus, num_epochs=2, log_interval=1)
    s = SETTINGS[arch]
    cfg["model"]["llm"] = {"type": "pretrained", "path": str(llm_dir), **s["llm"]}
    cfg["model"]["loss"].update(encoder_ctc_weight=0.3, lid_weight=0.2)
    cfg["model"]["projector"].update(token_bridge=s["bridge"], ctc_text=s["ctc_text"])
    cfg["decode"] = {"method": "llm_beam", "ctc_weight": 0.3, "script_mask": True, "word_penalty": 0.5,
                     "ngram": str(ngram), "ngram_weight": 0.2}
    exp = tmp_path / "exp"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    assert train_cli.main(["--config", str(tmp_path / "c.yaml"), "--exp-dir", str(exp)]) == 0
    return exp, llm_dir


@pytest.mark.parametrize("arch", ["gemma3", "qwen2"])
def test_train_decode_pack_and_reload(tmp_path, corpus, arch, capsys):
    exp, llm_dir = _system(tmp_path, corpus, arch)
    saved = yaml.safe_load((exp / "config.yaml").read_text(encoding="utf-8"))
    m = saved["model"]
    # two vocabularies: the LLM's (its own directory's), and the project's units for the RNN-T and the CTC heads
    assert saved["exp_files"]["llm_tokenizer"] == "llm_tokenizer" and m["units"]["vocab_size"] == 24
    assert m["llm"]["leading_bos"] == (arch == "gemma3")  # Gemma's tokenizer adds a BOS; Qwen's does not
    loaded = load_model(exp)
    model = loaded.model
    assert model.transducer.joiner.output_linear.out_features == 24  # the units, not the LLM's tokens
    if SETTINGS[arch]["ctc_text"]:  # the encoder CTC's characters, read as the LLM's own tokens of their text
        text = _texts(corpus)[0]
        chars = loaded.char_tokenizer.encode(text)
        assert loaded.vocabs.chars_to_llm(chars) == loaded.tokenizer.encode(loaded.char_tokenizer.decode(chars))
        assert model.ctc_text is not None and model.ctc_text(chars) != chars
        # how often SpecAugment makes the CTC misread the cuts (what such an LLM reads in training)
        capsys.readouterr()  # (what training printed)
        assert augment_cer.main(["--exp-dir", str(exp), "--cuts", corpus["cuts"], "--set", "time_warp_factor=0",
                                 "--log-level", "WARNING"]) == 0
        report = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in report] == ["clean", "augmented"]
        assert all("12 utterances" in line for line in report)
        assert augment_cer.main(["--exp-dir", str(exp), "--cuts", corpus["cuts"], "--set", "mask_size=3"]) == 1
    assert model.llm.get_input_embeddings().num_embeddings == loaded.tokenizer.vocab_size > 24
    # the LLM's weights that do not train are kept once, in its own directory
    state = load_checkpoint(exp / "epoch-2.pt")["model"]
    llm_keys = [k for k in state if k.startswith("llm.")]
    if arch == "gemma3":
        assert llm_keys and all("lora_" in k for k in llm_keys)
    else:
        assert not llm_keys
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(llm_dir).state_dict()
    assert all(torch.equal(v, base[k.replace(".base_layer", "")])  # LoRA's wrapped layers keep the weight inside
               for k, v in model.llm.state_dict().items() if "lora_" not in k)

    # decoding with the system's search (beam + joint CTC + n-gram + script mask + word penalty) and the RNN-T
    for method in ("llm_beam", "llm_greedy", "rnnt_greedy"):
        out = tmp_path / f"decode_{method}"
        assert decode_cli.main(["--exp-dir", str(exp), "--cuts", corpus["cuts"], "--decode-dir", str(out),
                                "--method", method, "--log-level", "WARNING"]) == 0
        hyps = (out / "text").read_text(encoding="utf-8").splitlines()
        assert len(hyps) == 12, (method, hyps[:3])
        # the LLM writes after two epochs; the RNN-T, in its units, may still write only blanks
        assert method.startswith("rnnt") or any(len(h.split(maxsplit=1)) > 1 for h in hyps), (method, hyps[:3])
    # forced scoring through the two vocabularies (the CTC and the n-gram read the LLM's tokens through their text):
    # the beam's 1-best scores what the beam said
    forced = tmp_path / "forced.jsonl"
    assert search_errors.main(["--exp-dir", str(exp), "--cuts", corpus["cuts"], "--output", str(forced),
                               "--log-level", "WARNING"]) == 0
    records = [json.loads(line) for line in forced.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 12 and all(set(r["ref_score"]["parts"]) == {"llm", "ctc", "ngram", "word"} for r in records)
    assert all(r["hyp_score"]["ranked"] == pytest.approx(r["beam_score"], rel=1e-5, abs=1e-4) for r in records)
    # packing embeds the LLM's directory once; the packed model decodes as the experiment does
    (llm_dir / "NOTICE.md").write_text("the LLM's terms\n", encoding="utf-8")  # travels with anything derived
    archive = tmp_path / "model.tar.gz"
    assert pack_cli.main(["--exp-dir", str(exp), "--out", str(archive), "--avg", "2", "--log-level", "WARNING"]) == 0
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert any(n.endswith("llm/model.safetensors") for n in names)
    assert sum(n.endswith(".safetensors") for n in names) == 1 and any(n.endswith("/LLM_NOTICE.md") for n in names)
    from prefixasr.data.datamodule import AsrDataModule, unpack_batch
    from prefixasr.decode.decoder import Decoder
    from prefixasr.decode.runner import DecodeOptions
    from prefixasr.inference import archive as ar
    from prefixasr.inference.pack import load_packed
    from prefixasr.train.data import load_cuts

    reloaded = load_packed(ar.unpack_cached(archive))
    averaged = load_model(exp, avg=2)
    dm = AsrDataModule(max_duration=100, num_workers=0, spec_augment=False, world_size=1, rank=0)
    batch = unpack_batch(next(iter(dm.test_dataloader(load_cuts(corpus["cuts"], "cuts")))))
    got = [Decoder(x, DecodeOptions(method=None)).segments(batch) for x in (reloaded, averaged)]
    assert [r["hyp"] for r in got[0]] == [r["hyp"] for r in got[1]]


def test_the_prefix_and_the_bridge_are_at_the_llms_own_scale(tmp_path, corpus):
    """Gemma multiplies its embeddings by sqrt(hidden) inside the embedding module: the prefix and the bridge's unit
    embeddings are measured on what that module returns, not on the raw table (~sqrt(32) x smaller here)."""
    from prefixasr.data.tokenizer import Tokenizer
    from prefixasr.data.vocab import Vocabularies
    from prefixasr.model import build_model

    llm_dir = write_tiny_llm("gemma3", tmp_path / "g", _texts(corpus) * 4)
    cfg = system_config(corpus)
    cfg["model"]["llm"] = {"type": "pretrained", "path": str(llm_dir), "leading_bos": True}
    cfg["model"]["projector"]["token_bridge"] = "rnnt"
    llm_tok, units = Tokenizer.load(llm_dir), Tokenizer.load(corpus["tokenizer"])
    cfg["model"]["units"] = {"vocab_size": units.vocab_size}
    vocabs = Vocabularies(llm_tok, units)
    model = build_model(cfg, llm_tok.vocab_size, 3, vocabs=vocabs)
    emb = model.llm.get_input_embeddings()
    seen = float(emb(torch.arange(llm_tok.vocab_size)).pow(2).mean().sqrt())
    raw = float(emb.weight.pow(2).mean().sqrt())
    gain = model.projector.norm.weight  # the LayerNorm that puts the prefix at the LLM scale starts at it
    assert seen > 4 * raw and torch.allclose(gain, torch.full_like(gain, seen), rtol=1e-4)
    # unit "a" is the LLM's embedding of the text "a"; the leading BOS is the first column of every row
    a = units.encode("a")[-1]
    want = emb(torch.tensor(llm_tok.encode("a"))).mean(0)
    got = (model.embed_tokens(model.bridge_ids[a]) * model.bridge_weights[a, :, None]).sum(0)
    assert torch.allclose(got, want, atol=1e-5)
    prefix = torch.randn(2, 5, emb.embedding_dim)
    embeds, mask, _ = model.build_llm_prefix(prefix, torch.tensor([5, 3]), torch.tensor([0, 1]))
    first = mask.argmax(1)
    for i in range(2):
        assert torch.allclose(embeds[i, first[i]], emb(torch.tensor(llm_tok.bos_id)))


def test_a_tokenizer_that_is_not_the_llms_is_refused(tmp_path, corpus):
    gemma = write_tiny_llm("gemma3", tmp_path / "g", _texts(corpus) * 4)
    qwen = write_tiny_llm("qwen2", tmp_path / "q", _texts(corpus) * 4)
    cfg = system_config(corpus, num_epochs=1)
    cfg["model"]["llm"] = {"type": "pretrained", "path": str(gemma), "freeze": True}
    for wrong in (str(qwen), corpus["tokenizer"]):  # another LLM's tokenizer; the project's units
        cfg["data"]["llm_tokenizer"] = wrong
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        with pytest.raises(ValueError, match="do not match"):
            train_cli.main(["--config", str(tmp_path / "c.yaml"), "--exp-dir", str(tmp_path / "exp")])


def test_lora_needs_a_pretrained_unfrozen_llm(corpus):
    from prefixasr.model.config import model_config

    cfg = system_config(corpus)
    cfg["model"]["llm"].update(lora={"rank": 4})
    with pytest.raises(ValueError, match="lora"):
        model_config(cfg)


def test_learning_rates_per_parameter_group(tmp_path, corpus):
    from prefixasr.model import build_model
    from prefixasr.train.optim import build_optimizer

    llm_dir = write_tiny_llm("gemma3", tmp_path / "g", _texts(corpus) * 4)
    cfg = system_config(corpus)
    cfg["model"]["llm"] = {"type": "pretrained", "path": str(llm_dir), "lora": {"rank": 2}}
    model = build_model(cfg, 24, 3)
    opt = build_optimizer(model, 1.0, 0.0, (0.9, 0.98), {"llm": 0.1, "lora": 2.0, "projector.mlp": 0.5})
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        want = 2.0 if "lora_" in name else 0.5 if name.startswith("projector.mlp.") else 1.0
        assert not p.requires_grad or lr_of[id(p)] == want, name  # (every other LLM weight is frozen under LoRA)
    with pytest.raises(ValueError, match="no parameter under"):
        build_optimizer(model, 1.0, 0.0, (0.9, 0.98), {"decoder": 0.1})


@pytest.mark.parametrize("arch", ["gemma3", "qwen2"])
def test_following_the_ctcs_proposals_writes_its_transcript_in_the_llms_tokens(tmp_path, corpus, arch):
    """The CTC reads the project's units; its proposals, followed one at a time, are the LLM's own encoding of the
    transcript, and the CTC reads nothing more at its end."""
    from prefixasr.data.tokenizer import Tokenizer
    from prefixasr.data.vocab import Vocabularies
    from prefixasr.decode.ctc_prefix import CtcPrefixScorer
    from prefixasr.decode.through_text import ThroughText

    llm_tok = Tokenizer.load(write_tiny_llm(arch, tmp_path / arch, _texts(corpus) * 4))
    units = Tokenizer.load(corpus["tokenizer"])
    text = _texts(corpus)[3]
    spelled = units.encode(text)
    frames = 3 * len(spelled) + 2
    logp = torch.full((1, frames, units.vocab_size), -20.0)
    logp[..., 0] = 0.0  # blank between labels, two frames each
    for k, label in enumerate(spelled):
        logp[:, 3 * k : 3 * k + 2, 0] = -20.0
        logp[:, 3 * k : 3 * k + 2, label] = 0.0
    eos = llm_tok.eos_id
    scorer = ThroughText(CtcPrefixScorer(logp.log_softmax(-1), torch.tensor([frames]), 0, -1),
                         Vocabularies(llm_tok, units), eos)
    written = []
    while (tok := scorer.proposals()[0]) >= 0 and len(written) < 4 * len(spelled):
        gain = scorer.score(torch.tensor([[tok, eos]]))
        assert float(gain[0, 0]) > -1.0 > float(gain[0, 1])  # the proposal is what the audio holds; the end is not yet
        scorer.select(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
        written.append(tok)
    assert written == llm_tok.encode(text) and llm_tok.decode(written) == text


@pytest.mark.parametrize("arch", ["gemma3", "qwen2"])
def test_whitespace_after_whitespace_is_not_free_in_the_units(tmp_path, corpus, arch):
    """A token that adds no units costs the units' scorers nothing; a second in a row is ruled out, or an LLM could
    write spaces to its token limit and never read the rest of the audio."""
    from prefixasr.data.tokenizer import Tokenizer
    from prefixasr.data.vocab import Vocabularies
    from prefixasr.decode.ctc_prefix import LOG_ZERO, CtcPrefixScorer
    from prefixasr.decode.through_text import ThroughText

    llm_tok = Tokenizer.load(write_tiny_llm(arch, tmp_path / arch, _texts(corpus) * 4))
    units = Tokenizer.load(corpus["tokenizer"])
    word = _texts(corpus)[0].split()[0]
    *first, space = llm_tok.encode(word + " ")
    assert llm_tok.decode([space]).strip() == ""
    logp = torch.randn(1, 30, units.vocab_size).log_softmax(-1)
    scorer = ThroughText(CtcPrefixScorer(logp, torch.tensor([30]), 0, -1), Vocabularies(llm_tok, units),
                         llm_tok.eos_id)
    for tok in first + [space]:
        gain = scorer.score(torch.tensor([[tok]]))
        assert float(gain) > LOG_ZERO / 2
        scorer.select(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    assert float(gain) == 0.0  # the space alone adds no units: the next word's "▁" is scored with that word
    assert float(scorer.score(torch.tensor([[space]]))) <= LOG_ZERO / 2
