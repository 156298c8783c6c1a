"""Decoding: LLM greedy/beam with a KV cache (llm_search), RNN-T greedy/modified beam (rnnt_search),
long-form windowing and stitching (longform), batch decoding glue (runner), resumable decode dirs (writer),
segments and whole recordings with a loaded system (decoder). The command-line tool is prefixasr.bin.decode."""
