"""Decode batches of features with a SpeechPrefixLM: one entry point for all four methods, plus the
glue that turns tokens into (timed) words for long-form stitching and CTM output."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import torch

from prefixasr.data.features import FRAME_SHIFT
from prefixasr.data.vocab import Vocabularies
from prefixasr.decode.ctc_prefix import CtcPrefixScorer
from prefixasr.decode.forced import ForcedScore, forced_scores
from prefixasr.decode.llm_search import LlmSearchConfig, llm_beam_scored, llm_greedy, token_limits
from prefixasr.decode.ngram import NgramLM, NgramScorer
from prefixasr.decode.longform import Word, WindowHyp, spread_words
from prefixasr.decode.rnnt_search import rnnt_beam, rnnt_greedy
from prefixasr.decode.script_mask import rows_for
from prefixasr.decode.through_text import ThroughText

METHODS = ("llm_greedy", "llm_beam", "rnnt_greedy", "rnnt_beam", "ctc_greedy")


@dataclass
class DecodeOptions:
    method: Optional[str] = "llm_greedy"  # None: the model's own default (default_method)
    beam: Optional[int] = None  # beam searches; None: the system config's decode.beam, resolved by
    # decode.decoder.Decoder (decode_batch reads None as LlmSearchConfig's default)
    llm: LlmSearchConfig = field(default_factory=LlmSearchConfig)
    max_sym_per_frame: int = 1
    use_cache: bool = True  # only for benchmarks/tests: greedy without a KV cache
    script_mask: Optional[bool] = None  # each language writes only its script (+ Latin); None: the system
    # config's decode.script_mask, resolved by decode.decoder.Decoder, which builds the table (script_mask.py)
    ngram: Optional[str] = None  # an n-gram LM file (prefixasr.bin.train_ngram) fused into the LLM's search with
    # llm.ngram_weight; None: the experiment dir's own (exp_files.ngram), resolved by decode.decoder.Decoder


def add_search_arguments(group, method: Optional[str] = "llm_greedy") -> None:
    """The search options shared by every decoding front end (decode tool, transcribe tool)."""
    group.add_argument("--method", choices=METHODS, default=method,
                       help="decoding method" + ("" if method else " (default: the system config's decode.method, else "
                                                                   "its LLM's, else its RNN-T's, else its CTC's)"))
    group.add_argument("--beam", type=int, default=None,
                       help="beam size (llm_beam, rnnt_beam) (default: the system config's decode.beam, else 4)")
    group.add_argument("--max-new-tokens", type=int, default=256,
                       help="LLM: absolute cap on output tokens (per window in long-form)")
    group.add_argument("--max-tokens-per-frame", type=float, default=None,
                       help="LLM: cap on output tokens per speech-prefix vector (stops runaway generation) (default: "
                            "the system config's decode.max_tokens_per_frame, else 1)")
    group.add_argument("--repetition-penalty", type=float, default=1.0, help="LLM: CTRL-style penalty, 1.0 = off")
    group.add_argument("--length-penalty", type=float, default=None,
                       help="llm_beam: finished hypotheses are ranked by logp / length**this; 0 = by the total "
                            "(default: the system config's decode.length_penalty, else 1)")
    group.add_argument("--max-sym-per-frame", type=int, default=1, help="rnnt_greedy: symbols per frame")
    group.add_argument("--ctc-weight", type=float, default=None,
                       help="llm_*: joint decoding with the encoder CTC's prefix score (ESPnet's ctc_weight, e.g. "
                            "0.5); needs the LLM to write the CTC's characters (--bpe_type char); 0 = the LLM alone "
                            "(default: the system config's decode.ctc_weight)")
    group.add_argument("--script-mask", type=_yes_no, default=None, metavar="true|false",
                       help="LLM and RNN-T methods: each utterance writes only tokens of its language's script (or "
                            "Latin) (default: the system config's decode.script_mask)")
    group.add_argument("--ctc-candidates", type=int, default=8,
                       help="llm_* with --ctc-weight/--ngram-weight: the LLM's best tokens per hypothesis that the "
                            "CTC and the n-gram score each step")
    group.add_argument("--ctc-propose", type=_yes_no, default=None, metavar="true|false",
                       help="llm_* with --ctc-weight: also score the token the CTC's best path reads next, beside the "
                            "LLM's best ones (default: the system config's decode.ctc_propose, else false)")
    group.add_argument("--ngram", default=None,
                       help="llm_*: an n-gram LM file (prefixasr.bin.train_ngram) for shallow fusion (default: the "
                            "experiment's own, when its config sets decode.ngram)")
    group.add_argument("--ngram-weight", type=float, default=None,
                       help="llm_*: weight of the n-gram LM's log-probabilities (ESPnet's ngram_weight); 0 = off "
                            "(default: the system config's decode.ngram_weight)")
    group.add_argument("--word-penalty", type=float, default=None,
                       help="llm_*: subtracted from the score of each token that begins a word (Kaldi's word "
                            "insertion penalty); 0 = off (default: the system config's decode.word_penalty)")


def _yes_no(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ValueError(f"expected true or false, got {value!r}")
    return value.lower() == "true"


def options_from_args(args) -> DecodeOptions:
    """DecodeOptions from the arguments that add_search_arguments declared."""
    llm = LlmSearchConfig(args.max_new_tokens, args.max_tokens_per_frame, args.repetition_penalty,
                          length_penalty=args.length_penalty, ctc_weight=args.ctc_weight,
                          ctc_candidates=args.ctc_candidates, ngram_weight=args.ngram_weight,
                          word_penalty=args.word_penalty, ctc_propose=args.ctc_propose)
    return DecodeOptions(args.method, args.beam, llm, args.max_sym_per_frame, script_mask=args.script_mask,
                         ngram=args.ngram)


@dataclass
class Decoded:
    tokens: List[int]
    frames: Optional[List[int]]  # RNN-T emission frame of each token (prefix frames); None for the LLM
    prefix_len: int
    score: Optional[float] = None  # the LLM beam's ranking score of these tokens (llm_beam, joint llm_greedy)


def check_method(model, method: str, ctc_weight: Optional[float] = 0.0) -> None:
    """Fail early with a clear message when the model lacks the branch a method needs."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if method.startswith("llm") and not model.has_llm:
        raise ValueError(f"{method}: this system has no LLM (use rnnt_greedy or rnnt_beam)")
    if method.startswith("rnnt") and model.transducer is None:
        raise ValueError(f"{method}: this system was trained without the RNN-T branch (use llm_greedy/llm_beam)")
    if method == "ctc_greedy" and model.encoder_ctc is None:
        raise ValueError(f"{method}: this system was trained without the encoder CTC head (loss.encoder_ctc_weight)")
    if ctc_weight and method.startswith("llm") and model.encoder_ctc is None:
        raise ValueError("--ctc-weight: this system has no encoder CTC head (loss.encoder_ctc_weight)")


def default_method(model) -> str:
    """What a system decodes with when nobody says: its LLM, else its RNN-T, else its character CTC."""
    if model.has_llm:
        return "llm_greedy"
    return "rnnt_greedy" if model.transducer is not None else "ctc_greedy"


def default_window(method: str) -> Tuple[float, float]:
    """(window, overlap) in seconds for decoding a long recording: the LLM reads windows about as long as its
    training utterances (in 30 s windows its prefix is several times longer and it loops; docs/convergence.md,
    part 4), the RNN-T and CTC read long windows best."""
    return (10.0, 2.0) if method.startswith("llm") else (30.0, 5.0)


def available_greedy_methods(model) -> List[str]:
    """Every greedy search this system supports (the trainer's validation CER reports each)."""
    out = ["llm_greedy"] if model.has_llm else []
    out += ["rnnt_greedy"] if model.transducer is not None else []
    return out + (["ctc_greedy"] if model.encoder_ctc is not None else [])


def _llm_vocab(model) -> int:
    """The LLM's vocabulary: the width of its logits and of the script masks its searches read."""
    return model.llm.get_input_embeddings().num_embeddings


def _units_scorer(scorer, vocabs: Optional[Vocabularies], units, llm_width: int, eos_id: int):
    """`scorer` as the LLM's search reads it: itself when its units are the LLM's tokens, else through their text."""
    if vocabs is None or units is None:
        if _scorer_width(scorer) != llm_width:
            raise ValueError(f"a scorer over {_scorer_width(scorer)} units for an LLM of {llm_width} tokens needs the "
                             "tokenizers that map one to the other (the system's vocabularies)")
        return scorer
    crossing = vocabs.crossing(units)
    return scorer if crossing.shared else ThroughText(scorer, crossing, eos_id)


def _scorer_width(scorer) -> int:
    return int(scorer.x.size(-1)) if hasattr(scorer, "x") else int(scorer.lm.vocab_size)


@torch.inference_mode()
def decode_batch(model, features: torch.Tensor, feature_lens: torch.Tensor, lang_ids: torch.Tensor,
                 opts: DecodeOptions, vocab_mask: Optional[torch.Tensor] = None,
                 ngram: Optional[NgramLM] = None, word_starts: Optional[torch.Tensor] = None,
                 ctc_mask: Optional[torch.Tensor] = None, vocabs: Optional[Vocabularies] = None) -> List[Decoded]:
    """`vocab_mask`: (languages, tokens) booleans, the tokens each language may write in the method's vocabulary
    (script_mask.py: the LLM's, or the RNN-T's units); `ctc_mask` the same over the encoder CTC's characters, which
    then reads in the script where it feeds the LLM (bridge, compression, joint scores); the character CTC
    (ctc_greedy) ignores both. `ngram`: the LM fused into the LLM's search when opts.llm.ngram_weight > 0.
    `word_starts`: (tokens,) the LLM's tokens that begin a word (script_mask.word_starts), charged
    opts.llm.word_penalty. `vocabs`: the system's vocabularies; the CTC and the n-gram score the LLM's tokens
    through their text when their units are not the LLM's (through_text.py)."""
    if opts.method == "ctc_greedy":  # characters from the encoder output: frames are encoder frames
        enc, enc_lens = model.encoder(features, feature_lens)
        hyps = model.encoder_ctc.greedy(enc, enc_lens)
        return [Decoded(t, f, int(n)) for (t, f), n in zip(hyps, enc_lens.tolist())]
    beam = LlmSearchConfig.beam if opts.beam is None else opts.beam
    if opts.method.startswith("rnnt"):
        prefix, plens = model.encode(features, feature_lens)
        allowed = rows_for(vocab_mask, lang_ids, model.transducer.joiner.output_linear.out_features)
        if opts.method == "rnnt_greedy":
            hyps = rnnt_greedy(model.transducer, prefix, plens, opts.max_sym_per_frame, allowed)
        else:
            hyps = rnnt_beam(model.transducer, prefix, plens, beam, allowed)
        return [Decoded(t, f, int(n)) for (t, f), n in zip(hyps, plens.tolist())]
    search = _llm_search_inputs(model, features, feature_lens, lang_ids, opts, vocab_mask, ngram, word_starts,
                                ctc_mask, vocabs)
    if opts.method == "llm_greedy" and search.ctc is None and search.fusion is None:
        toks = llm_greedy(model, search.embeds, search.mask, search.limits, opts.llm, use_cache=opts.use_cache,
                          positions=search.positions, allowed=search.allowed, word_starts=search.word_starts)
        return [Decoded(t, None, int(n)) for t, n in zip(toks, search.prefix_lens.tolist())]
    # joint decoding (CTC, n-gram) searches with a beam, of 1 for greedy
    width = 1 if opts.method == "llm_greedy" else beam
    best = llm_beam_scored(model, search.embeds, search.mask, search.limits, dataclasses.replace(opts.llm, beam=width),
                           search.positions, search.ctc, search.allowed, search.fusion, search.word_starts)
    return [Decoded(t, None, int(n), s) for (s, t), n in zip(best, search.prefix_lens.tolist())]


@torch.inference_mode()
def force_batch(model, features: torch.Tensor, feature_lens: torch.Tensor, lang_ids: torch.Tensor,
                opts: DecodeOptions, sequences: Sequence[Sequence[int]], vocab_mask: Optional[torch.Tensor] = None,
                ngram: Optional[NgramLM] = None, word_starts: Optional[torch.Tensor] = None,
                ctc_mask: Optional[torch.Tensor] = None, vocabs: Optional[Vocabularies] = None) -> List[ForcedScore]:
    """The score the LLM's search (opts, as decode_batch searches with them) gives each utterance's token sequence
    (forced.py): decode_batch's inputs, scorers and masks, the LLM made to follow `sequences`."""
    search = _llm_search_inputs(model, features, feature_lens, lang_ids, opts, vocab_mask, ngram, word_starts,
                                ctc_mask, vocabs)
    return forced_scores(model, search.embeds, search.mask, search.limits, sequences, opts.llm, search.positions,
                         search.ctc, search.allowed, search.fusion, search.word_starts)


@dataclass
class _LlmSearchInputs:
    embeds: torch.Tensor  # (B, L, D) soft prompt + speech prefix (+ BOS), left-padded
    mask: torch.Tensor
    positions: torch.Tensor
    prefix_lens: torch.Tensor  # (B,) speech-prefix frames
    limits: List[int]  # each utterance's token limit
    ctc: Optional[object]  # the CTC prefix scorer (joint decoding), over the LLM's tokens
    fusion: Optional[object]  # the n-gram scorer, over the LLM's tokens
    allowed: Optional[torch.Tensor]  # (B, V) the tokens each utterance may write
    word_starts: Optional[torch.Tensor]  # (V,) the tokens the word penalty charges


def _llm_search_inputs(model, features, feature_lens, lang_ids, opts: DecodeOptions, vocab_mask, ngram, word_starts,
                       ctc_mask, vocabs) -> _LlmSearchInputs:
    """What an LLM search reads for a batch: the prefix, the token limits, the masks and the scorers (decode_batch's
    arguments)."""
    ctc = None
    vocab = _llm_vocab(model)
    allowed = rows_for(vocab_mask, lang_ids, vocab)
    ctc_allowed = None
    if ctc_mask is not None and model.encoder_ctc is not None:
        ctc_allowed = rows_for(ctc_mask, lang_ids, model.encoder_ctc.proj.out_features)
    if opts.llm.ctc_weight:  # None (unresolved): the LLM alone
        prefix, plens, ctc_logp, ctc_lens = model.encode_for_llm_and_ctc(features, feature_lens, ctc_allowed)
        chars = vocabs.chars if vocabs is not None else None
        same = chars is None or vocabs.crossing(chars).shared
        # the LLM's BOS and EOS are its labels only where they are the LLM's tokens (through text, EOS is its own)
        ctc = CtcPrefixScorer(ctc_logp, ctc_lens, model.encoder_ctc.blank_id, model.eos_id if same else -1,
                              [model.bos_id] if same else [])
        ctc = _units_scorer(ctc, vocabs, chars, vocab, model.eos_id)
    else:
        prefix, plens = model.encode_for_llm(features, feature_lens, ctc_allowed)
    fusion = None
    if opts.llm.ngram_weight:
        if ngram is None:
            raise ValueError("--ngram-weight > 0 needs an n-gram LM (--ngram, or decode.ngram in the system config)")
        fusion = _units_scorer(NgramScorer(ngram, features.size(0)), vocabs,
                               vocabs.units if vocabs is not None else None, vocab, model.eos_id)
    embeds, mask, positions = model.build_llm_prefix(prefix, plens, lang_ids)
    if word_starts is not None:  # widened to the LLM's logits (an LLM can be wider than its tokenizer)
        word_starts = torch.cat([word_starts, word_starts.new_zeros(max(0, vocab - word_starts.numel()))])[:vocab]
    return _LlmSearchInputs(embeds, mask, positions, plens, token_limits(plens, opts.llm), ctc, fusion, allowed,
                            word_starts)


def strip_special(d: Decoded, tokenizer, blank_id: Optional[int]) -> Decoded:
    """Drop ids the tokenizer must not print (BOS/EOS/blank, and an appended blank past the vocabulary),
    with their emission frames."""
    skip = {tokenizer.bos_id, tokenizer.eos_id, blank_id}
    keep = [k for k, t in enumerate(d.tokens) if t not in skip and 0 <= t < tokenizer.vocab_size]
    frames = [d.frames[k] for k in keep] if d.frames is not None else None
    return dataclasses.replace(d, tokens=[d.tokens[k] for k in keep], frames=frames)


def timed_words(d: Decoded, text: str, tokenizer, start: float, end: float) -> WindowHyp:
    """Words of one window with absolute times: from RNN-T emission frames when the word boundaries
    (sentencepiece's "▁") line up with the text, else spread evenly over the window."""
    words, tokens = text.split(), d.tokens
    if d.frames is not None and d.prefix_len > 0 and len(d.frames) == len(tokens):
        sec_per_frame = (end - start) / d.prefix_len
        firsts = [k for k, t in enumerate(tokens) if tokenizer.id_to_piece(t).startswith("\u2581")]
        if len(firsts) == len(words) and (not firsts or firsts[0] == 0):
            bounds = firsts + [len(tokens)]
            out = []
            for w, a, b in zip(words, bounds[:-1], bounds[1:]):
                t0 = start + d.frames[a] * sec_per_frame
                t1 = start + (d.frames[b - 1] + 1) * sec_per_frame
                out.append(Word(w, t0, t1))
            return WindowHyp(start, end, out, exact=True)
    return WindowHyp(start, end, spread_words(words, start, end), exact=False)


def feature_windows(num_frames: int, spans: Sequence[Tuple[float, float]],
                    frame_shift: float = FRAME_SHIFT) -> List[Tuple[int, int]]:
    """Second spans -> ranges of feature frames of `frame_shift` seconds (20 ms for Whisper's cached outputs),
    clipped to the features, at least one frame each; spans that start past the last frame are dropped."""
    out = []
    for s, e in spans:
        a = int(round(s / frame_shift))
        if a >= num_frames:
            continue
        out.append((a, max(min(int(round(e / frame_shift)), num_frames), a + 1)))
    return out
