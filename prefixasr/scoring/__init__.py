"""Scoring: sclite-compatible and kaldialign alignment (align), WER/CER and hallucination figures
(metrics), Kaldi/icefall/sclite file formats (formats), the sclite runner (sclite), whole decode dirs
(score_dir) and RESULTS.md tables and charts (results). Tools: prefixasr.bin.score, prefixasr.bin.show_results."""
