"""The subsampling of the encoder in use, not the Conformer's x4, drives the lengths outside the encoder: the
long-form pause finder (`Decoder.pauses`), the frames a span of seconds reads (`feature_windows`: the features' own
frame shift) and the trainer's cut filter (`prefix_frames`, `CutFilter`)."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from prefixasr.decode.decoder import Decoder
from prefixasr.decode.runner import feature_windows
from prefixasr.model.encoder import ConformerEncoder
from prefixasr.model.heads import CtcHead
from prefixasr.train.data import CutFilter, prefix_frames

torch.set_num_threads(1)


class HalfRateEncoder(nn.Module):
    """Whisper's frame rate: one output frame per two 10 ms feature frames, its one channel the first feature's
    (1 on speech, 0 in pauses)."""

    input_kind = "fbank"
    subsampling_factor = 2

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return (lengths - 1) // 2 + 1

    def forward(self, feats: torch.Tensor, lens: torch.Tensor):
        return feats[:, ::2, :1], self.output_lengths(lens)


def _speech_ctc() -> CtcHead:
    """An encoder CTC whose best label is blank (0) on 0 and the one letter (1) on 1."""
    ctc = CtcHead(1, 2, blank_id=0)
    with torch.no_grad():
        ctc.proj.weight.copy_(torch.tensor([[-10.0], [10.0]]))
        ctc.proj.bias.copy_(torch.tensor([5.0, -5.0]))
    return ctc


def test_pause_finder_reads_whole_chunks_of_a_half_rate_encoder():
    # 75 s, read in 30 s chunks: speech in the second half of each chunk too (20-27.5 s, 50-58 s), which the
    # Conformer's x4 constant would not read (749 of a chunk's 1500 frames, each taken for 40 ms)
    speech = [(3.0, 6.0), (20.0, 27.5), (33.0, 38.0), (50.0, 58.0), (66.0, 71.0)]
    feats = torch.zeros(7500, 4)
    for s, e in speech:
        feats[int(s * 100):int(e * 100), 0] = 1.0
    dec = Decoder.__new__(Decoder)  # only what pauses() reads: the model's encoder and encoder CTC
    dec.model = SimpleNamespace(encoder=HalfRateEncoder(), encoder_ctc=_speech_ctc())
    dec.opts, dec.device, dec.frame_shift = SimpleNamespace(method="llm_greedy"), "cpu", 0.01
    found = dec.pauses(feats, max_duration=60.0, pad=0.0, max_len=60.0)
    assert [t for span in found for t in span] == pytest.approx([t for span in speech for t in span], abs=0.021)


def test_spans_read_the_frames_of_the_features_own_frame_shift():
    # 20 ms frames (Whisper's cached outputs): 3 s is frame 150, not 300; a span past the last frame is no window
    spans = [(0.0, 1.0), (1.0, 3.0), (3.5, 4.5), (4.0, 5.0)]
    assert feature_windows(200, spans, 0.02) == [(0, 50), (50, 150), (175, 200)]
    assert feature_windows(400, spans) == [(0, 100), (100, 300), (350, 400)]  # 10 ms: the recipe's fbank


def test_cut_filter_counts_frames_of_the_encoder_in_use():
    class Chars:
        def encode(self, text):
            return list(text.replace(" ", ""))

    sup = SimpleNamespace(text="a" * 40, language="hi")
    cut = SimpleNamespace(id="c", duration=1.0, supervisions=[sup], has_features=True, num_frames=100)
    half = HalfRateEncoder().output_lengths
    assert prefix_frames(100, 1) == 24 and prefix_frames(100, 1, half) == 50 and prefix_frames(100, 2, half) == 25
    # 40 characters in 1 s: too many for 24 encoder frames at 40 ms, not for 50 at 20 ms
    default = CutFilter(Chars(), 0.3, 10.0, stack=1, max_tokens_per_frame=None, char_tokenizer=Chars())
    assert not default(cut) and dict(default.counts) == {"too many characters": 1}
    assert CutFilter(Chars(), 0.3, 10.0, stack=1, max_tokens_per_frame=None, char_tokenizer=Chars(),
                     output_lengths=half)(cut)


def test_conformer_says_its_input_and_subsampling():
    enc = ConformerEncoder(input_dim=80, d_model=32, num_layers=1, num_heads=2, ffn_dim=64, kernel_size=3).eval()
    lens = torch.tensor([100, 57, 7])
    with torch.no_grad():
        out, out_lens = enc(torch.randn(3, 100, 80), lens)
    assert enc.input_kind == "fbank" and enc.subsampling_factor == 4
    assert torch.equal(enc.output_lengths(lens), out_lens) and out.size(1) == int(out_lens.max()) == 24
