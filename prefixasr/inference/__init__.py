"""Inference for users: packed model archives, audio loading, the Transcriber API, output writers.

Modules: audio (any file/array -> 16 kHz mono), archive (the .tar.gz format with manifest and checksums),
pack (exp dir -> archive; archive -> model), card (MODEL_CARD.md), transcriber (the Python API),
result (Transcription, segments), writers (txt/json/srt/vtt/ctm).
"""
