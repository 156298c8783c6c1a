"""A system's decode settings: the `decode:` block of its config, which the decode tool, transcribe and the Python
API read for every option not given (decode/decoder.py, with_system_defaults), and their defaults. Plain data: the
config reader (prefixasr.train.config) imports it without torch."""
from __future__ import annotations

from typing import Any, Dict

DECODE_DEFAULTS: Dict[str, Any] = {
    # the search the decode tool, transcribe and the Transcriber API use when none is named: llm_greedy, llm_beam,
    # rnnt_greedy, ...; None: the system's LLM greedy, else its RNN-T's, else its character CTC's
    # (decode/runner.py, default_method). The recipes name theirs (asr.sh's --decode_methods).
    "method": None,
    # beam searches (llm_beam, rnnt_beam): hypotheses kept each step
    "beam": 4,
    # llm_beam: finished hypotheses are ranked by their score / length**length_penalty (1: per token, 0: the total;
    # a pretrained LLM's misspelt word is more tokens than the right one, so per token favours it: conf/llm/)
    "length_penalty": 1.0,
    # LLM methods: at most this many tokens per speech-prefix vector (and --max-new-tokens in all), so a looping
    # LLM stops. A CTC-compressed prefix has a vector per character the CTC read: at 1 a transcript the CTC read
    # a character short of cannot be written (docs/convergence.md part 29, R4).
    "max_tokens_per_frame": 1.0,
    # LLM methods: weight of the encoder CTC's prefix score in joint decoding (ESPnet's ctc_weight; needs the
    # LLM to write the CTC's characters). The per-epoch dev CER always shows the LLM alone.
    "ctc_weight": 0.0,
    # ... and beside the LLM's best tokens, the one the CTC's best path reads next (a pretrained LLM's large
    # vocabulary: conf/llm/)
    "ctc_propose": False,
    # LLM and RNN-T methods: each utterance writes only tokens of its language's script, or Latin
    # (prefixasr/decode/script_mask.py); the language is the given one, or the LID head's with --langid predicted.
    "script_mask": False,
    # LLM methods: shallow fusion with a token n-gram LM (prefixasr.bin.train_ngram; ESPnet's ngram_weight): `ngram`
    # is its file, copied into the experiment dir at training time (exp_files.ngram), `ngram_weight` its weight.
    "ngram": None,
    "ngram_weight": 0.0,
    # LLM methods: subtracted from the score of each token that begins a word (Kaldi's word insertion penalty);
    # it trades words split in two for words run together (docs/convergence.md, part 16).
    "word_penalty": 0.0,
}
