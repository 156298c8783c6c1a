"""A CTranslate2 Whisper model directory (faster-whisper's format: config.json, model.bin, vocabulary, tokenizer.json)
read into a Hugging Face `WhisperConfig` + `WhisperEncoder`, converted once and cached as an HF directory.

model.bin is CTranslate2's own binary format (binary version 6, as `ctranslate2/specs/model_spec.py` writes it),
little-endian: u32 version, string spec name ("WhisperSpec"), u32 spec revision, u32 variable count, then per
variable: string name, u8 rank, u32 dims, u8 dtype id, u32 byte count, raw data; then u32 alias count and
(alias, target) string pairs: a variable equal to an earlier one (in name order) is stored once, the others
name it. Strings are u16 length (with the trailing NUL), bytes, NUL. Weights stored as float32, float16 (as
faster-whisper ships them), bfloat16, or int8/int16 with their `_scale` are all read into float32 (the layout of
the fused attention projections: `encoder_state_dict`). Only the encoder is read; the decoder's sizes go into
the config so that it describes the whole model, but not its weights (`architectures: [WhisperEncoder]` marks
the directory encoder-only).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Dict, NamedTuple, Optional, Tuple

import torch

from prefixasr.common import PathLike

if TYPE_CHECKING:
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

BINARY_VERSION = 6
SPEC_NAME = "WhisperSpec"
# the DataType enum of ctranslate2/types.h, in its order
DTYPES = (torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)
ENCODER_ONLY = "WhisperEncoder"  # `architectures` of a converted directory
SOURCE_FILE = "ct2_source.json"  # what a converted directory was made from (its cache key)


class Header(NamedTuple):
    version: int
    spec: str
    revision: int
    num_variables: int


class _Entry(NamedTuple):
    shape: Tuple[int, ...]
    dtype: torch.dtype
    offset: int
    nbytes: int


def is_ct2_dir(path: PathLike) -> bool:
    """A CTranslate2 model directory: a model.bin, and a config.json (if any) that is not a Hugging Face one."""
    path = Path(path)
    if not (path / "model.bin").is_file():
        return False
    conf = path / "config.json"
    return not conf.is_file() or "model_type" not in json.loads(conf.read_text(encoding="utf-8"))


def _unpack(f: BinaryIO, fmt: str, what: Path) -> int:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError(f"{what}: truncated CTranslate2 model file")
    return struct.unpack("<" + fmt, data)[0]


def _string(f: BinaryIO, what: Path) -> str:
    n = _unpack(f, "H", what)
    return f.read(n)[:-1].decode("utf-8")  # n counts the trailing NUL


def _header(f: BinaryIO, path: Path) -> Header:
    version = _unpack(f, "I", path)
    if version != BINARY_VERSION:
        raise ValueError(f"{path}: CTranslate2 binary version {version}; this reader knows version {BINARY_VERSION}")
    return Header(version, _string(f, path), _unpack(f, "I", path), _unpack(f, "I", path))


def read_header(model_bin: PathLike) -> Header:
    """The format version, spec name, spec revision and variable count at the start of a model.bin."""
    path = Path(model_bin)
    with open(path, "rb") as f:
        return _header(f, path)


class ModelBin:
    """The index of a model.bin (every variable's shape, dtype and place, aliases resolved); `load` reads data.

    The whole index is read before any data: an alias of an encoder variable may name a decoder one."""

    def __init__(self, model_bin: PathLike) -> None:
        self.path = Path(model_bin)
        self._index: Dict[str, _Entry] = {}
        self.aliases: Dict[str, str] = {}  # alias -> the variable it names
        with open(self.path, "rb") as f:
            self.header = _header(f, self.path)
            for _ in range(self.header.num_variables):
                name = _string(f, self.path)
                shape = tuple(_unpack(f, "I", self.path) for _ in range(_unpack(f, "B", self.path)))
                dtype_id = _unpack(f, "B", self.path)
                if dtype_id >= len(DTYPES):
                    raise ValueError(f"{self.path}: variable {name} has an unknown dtype id {dtype_id}")
                nbytes = _unpack(f, "I", self.path)
                self._index[name] = _Entry(shape, DTYPES[dtype_id], f.tell(), nbytes)
                f.seek(nbytes, os.SEEK_CUR)
            for _ in range(_unpack(f, "I", self.path)):
                alias, target = _string(f, self.path), _string(f, self.path)
                if target not in self._index:
                    raise ValueError(f"{self.path}: alias {alias} names {target}, which is not stored")
                self._index[alias], self.aliases[alias] = self._index[target], target

    def shapes(self) -> Dict[str, Tuple[int, ...]]:
        return {name: entry.shape for name, entry in self._index.items()}

    def load(self, prefix: str) -> Dict[str, torch.Tensor]:
        """The variables whose names start with `prefix`, as stored (fp16 stays fp16, int8 stays int8)."""
        out = {}
        with open(self.path, "rb") as f:
            for name, entry in sorted(self._index.items()):
                if not name.startswith(prefix):
                    continue
                f.seek(entry.offset)
                data = bytearray(f.read(entry.nbytes))
                if len(data) != entry.nbytes:
                    raise ValueError(f"{self.path}: truncated CTranslate2 model file (variable {name})")
                out[name] = torch.frombuffer(data, dtype=entry.dtype).reshape(entry.shape)
        return out


def _dequantize(variables: Dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """A float32 weight: int8/int16 weights are stored times their `_scale` (per output row for int8)."""
    value = variables[name]
    if value.is_floating_point():
        return value.float()
    scale = variables.get(f"{name}_scale")
    if scale is None or f"{name}_zero" in variables:
        raise ValueError(f"variable {name} is stored as {value.dtype} in a way this reader does not know")
    return value.float() / scale.float().reshape((-1,) + (1,) * (value.dim() - 1))


def _count_layers(shapes: Dict[str, Tuple[int, ...]], prefix: str) -> int:
    return len({m.group(1) for n in shapes for m in [re.match(rf"{prefix}/layer_(\d+)/", n)] if m})


def whisper_config(model: ModelBin) -> Dict[str, object]:
    """WhisperConfig keys of a WhisperSpec, from its variables' shapes and the head counts it stores."""
    shapes = model.shapes()
    heads = model.load("encoder/num_heads") | model.load("decoder/num_heads")
    d_model, num_mel_bins, _ = shapes["encoder/conv1/weight"]
    return {
        "architectures": [ENCODER_ONLY],
        "d_model": d_model,
        "num_mel_bins": num_mel_bins,
        "encoder_layers": _count_layers(shapes, "encoder"),
        "encoder_attention_heads": int(heads["encoder/num_heads"]),
        "encoder_ffn_dim": shapes["encoder/layer_0/ffn/linear_0/weight"][0],
        "max_source_positions": shapes["encoder/position_encodings/encodings"][0],
        "decoder_layers": _count_layers(shapes, "decoder"),
        "decoder_attention_heads": int(heads["decoder/num_heads"]),
        "decoder_ffn_dim": shapes["decoder/layer_0/ffn/linear_0/weight"][0],
        "max_target_positions": shapes["decoder/position_encodings/encodings"][0],
        "vocab_size": shapes["decoder/embeddings/weight"][0],
    }


def encoder_state_dict(variables: Dict[str, torch.Tensor], num_layers: int) -> Dict[str, torch.Tensor]:
    """HF WhisperEncoder's state dict (float32) from a WhisperSpec's encoder variables."""
    def w(name: str) -> torch.Tensor:
        return _dequantize(variables, f"encoder/{name}")

    sd = {"conv1.weight": w("conv1/weight"), "conv1.bias": w("conv1/bias"),
          "conv2.weight": w("conv2/weight"), "conv2.bias": w("conv2/bias"),
          "embed_positions.weight": w("position_encodings/encodings"),
          "layer_norm.weight": w("layer_norm/gamma"), "layer_norm.bias": w("layer_norm/beta")}
    for i in range(num_layers):
        src, dst = f"layer_{i}", f"layers.{i}"
        # CTranslate2 fuses q, k, v into one projection; HF's k_proj has no bias (the fused one is zero there,
        # and a key bias would not change the softmax anyway: it adds the same q.b to every key's score)
        q, k, v = w(f"{src}/self_attention/linear_0/weight").chunk(3)
        qb, _, vb = w(f"{src}/self_attention/linear_0/bias").chunk(3)
        sd.update({
            f"{dst}.self_attn.q_proj.weight": q, f"{dst}.self_attn.q_proj.bias": qb,
            f"{dst}.self_attn.k_proj.weight": k,
            f"{dst}.self_attn.v_proj.weight": v, f"{dst}.self_attn.v_proj.bias": vb,
            f"{dst}.self_attn.out_proj.weight": w(f"{src}/self_attention/linear_1/weight"),
            f"{dst}.self_attn.out_proj.bias": w(f"{src}/self_attention/linear_1/bias"),
            f"{dst}.self_attn_layer_norm.weight": w(f"{src}/self_attention/layer_norm/gamma"),
            f"{dst}.self_attn_layer_norm.bias": w(f"{src}/self_attention/layer_norm/beta"),
            f"{dst}.fc1.weight": w(f"{src}/ffn/linear_0/weight"), f"{dst}.fc1.bias": w(f"{src}/ffn/linear_0/bias"),
            f"{dst}.fc2.weight": w(f"{src}/ffn/linear_1/weight"), f"{dst}.fc2.bias": w(f"{src}/ffn/linear_1/bias"),
            f"{dst}.final_layer_norm.weight": w(f"{src}/ffn/layer_norm/gamma"),
            f"{dst}.final_layer_norm.bias": w(f"{src}/ffn/layer_norm/beta"),
        })
    return sd


def load_encoder(ct2_dir: PathLike) -> Tuple["WhisperConfig", "WhisperEncoder"]:
    """(WhisperConfig, WhisperEncoder in float32) read from a CTranslate2 Whisper directory."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    model_bin = Path(ct2_dir) / "model.bin"
    if not model_bin.is_file():
        raise FileNotFoundError(f"{model_bin} not found: is {ct2_dir} a CTranslate2 model directory?")
    model = ModelBin(model_bin)
    if model.header.spec != SPEC_NAME:
        raise ValueError(f"{model_bin} holds a {model.header.spec}, not a {SPEC_NAME}")
    try:
        config = WhisperConfig(**whisper_config(model))
        encoder = WhisperEncoder(config).eval()
        encoder.load_state_dict(encoder_state_dict(model.load("encoder/"), config.encoder_layers))
    except (KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"{model_bin}: not the Whisper encoder this reader knows ({err})") from None
    return config, encoder


def _source(ct2_dir: Path) -> Dict[str, object]:
    """What a conversion depends on: model.bin's identity (size, modification time) and this reader's format."""
    st = (ct2_dir / "model.bin").stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "binary_version": BINARY_VERSION}


def convert(ct2_dir: PathLike, out_dir: PathLike) -> Path:
    """Write the encoder of a CTranslate2 Whisper directory as an HF directory (config.json + model.safetensors),
    atomically: built in a temporary directory beside `out_dir`, then renamed into place."""
    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    start = time.time()
    _, encoder = load_encoder(ct2_dir)
    tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}.tmp"  # mkdir, not mkdtemp: the umask's permissions
    shutil.rmtree(tmp, ignore_errors=True)  # left by a crash of this same pid
    tmp.mkdir(parents=True)
    try:
        encoder.save_pretrained(str(tmp))
        (tmp / SOURCE_FILE).write_text(json.dumps(_source(ct2_dir), indent=1) + "\n", encoding="utf-8")
        if out_dir.exists():  # an out-of-date conversion
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logging.info("converted the CTranslate2 Whisper encoder of %s into %s in %.1f s", ct2_dir, out_dir,
                 time.time() - start)
    return out_dir


def hf_dir(ct2_dir: PathLike, cache_dir: Optional[PathLike] = None) -> Path:
    """The HF directory converted from `ct2_dir`: `<cache_dir>/<name>-hf` (default: `<ct2_dir>-hf`, beside it),
    converted now if it is missing or was made from another model.bin. A lock file beside it lets one process
    convert while the others (the ranks of a DDP run) wait for it."""
    ct2_dir = Path(ct2_dir)
    out = Path(cache_dir) / f"{ct2_dir.resolve().name}-hf" if cache_dir else ct2_dir.parent / f"{ct2_dir.name}-hf"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = out / SOURCE_FILE
        if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == _source(ct2_dir):
            return out
        return convert(ct2_dir, out)
