"""Packing: the archive round-trips the averaged weights; truncation, tampering and another format
version each give one clear line naming the archive."""
import io
import json
import tarfile

import pytest
import torch
import yaml

from prefixasr.bin import pack as pack_cli
from prefixasr.inference import archive as ar
from prefixasr.inference.pack import load_packed
from prefixasr.model import load_model
from test_inference_fixtures import make_exp_dir

torch.set_num_threads(1)


def _add_train_cuts(exp, root):
    """Point the exp dir's config at a 3-cut training set (2 hi, 1 ta) for the model card's data summary."""
    from lhotse import CutSet, MonoCut, SupervisionSegment

    cuts = [MonoCut(f"c{i}", 0.0, 1800.0, 0, supervisions=[SupervisionSegment(f"c{i}", f"c{i}", 0.0, 1800.0,
                                                                             language=lang)])
            for i, lang in enumerate(["hi", "hi", "ta"])]
    CutSet.from_cuts(cuts).to_file(root / "train_cuts.jsonl.gz")
    cfg = yaml.safe_load((exp / "config.yaml").read_text(encoding="utf-8"))
    cfg["data"]["train_cuts"] = str(root / "train_cuts.jsonl.gz")
    (exp / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    exp = make_exp_dir(root)
    _add_train_cuts(exp, root)
    (exp.parent.parent / "RESULTS.md").write_text(
        "# RESULTS\n\n## Environments\n- x\n\n## test_long: WER (%)\n\n|system|hi|avg|\n|---|---|---|\n"
        "|other/llm_greedy|50.00|50.00|\n|tiny_system/llm_greedy|12.50|12.50|\n", encoding="utf-8")
    out = root / "model.tar.gz"
    assert pack_cli.main(["--exp-dir", str(exp), "--out", str(out), "--avg", "2"]) == 0
    return exp, out


def test_archive_round_trip(packed, tmp_path):
    exp, out = packed
    manifest = ar.extract_archive(out, tmp_path / "m")
    assert manifest["format_version"] == ar.FORMAT_VERSION
    assert set(manifest["files"]) == {
        "config.yaml", "model.pt", "tokenizer/spm.model", "lang2id.json", "MODEL_CARD.md"}
    assert manifest["source"]["checkpoints"] == ["epoch-1.pt", "epoch-2.pt"]
    packed_model = load_packed(tmp_path / "m").model.state_dict()
    averaged = load_model(exp, epoch=2, avg=2).model.state_dict()
    assert packed_model.keys() == averaged.keys()
    assert all(torch.equal(packed_model[k], averaged[k]) for k in averaged)
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "|tiny_system/llm_greedy|12.50|12.50|" in card and "other/" not in card
    assert "languages: hi, ta, te" in card and "epoch-1.pt, epoch-2.pt" in card
    assert "3 utterances, 1.50 h" in card and "|hi|2|1.00|" in card and "|ta|1|0.50|" in card


def _rewrite(src, dst, change_manifest=None, change_member=None):
    """Copy an archive, editing the manifest or one member's bytes."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()
            if m.name.endswith(ar.MANIFEST) and change_manifest:
                man = json.loads(data)
                change_manifest(man)
                data = json.dumps(man).encode()
            elif change_member and m.name.endswith(change_member):
                data = data[:-1] + bytes([data[-1] ^ 1])
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))


def test_bad_archives_give_one_line(packed, tmp_path):
    _, out = packed
    raw = out.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(raw[: len(raw) // 2])
    tiny = tmp_path / "tiny.tar.gz"
    tiny.write_bytes(raw[:100])
    notar = tmp_path / "notar.tar.gz"
    notar.write_text("hello", encoding="utf-8")
    newer = tmp_path / "newer.tar.gz"
    _rewrite(out, newer, change_manifest=lambda m: m.update(format_version=99, prefixasr_version="9.0"))
    tampered = tmp_path / "tampered.tar.gz"
    _rewrite(out, tampered, change_member="model.pt")
    evil = tmp_path / "evil.tar.gz"  # a crafted archive that lists a file outside the target directory
    with tarfile.open(evil, "w:gz") as tar:
        for name, data in [(ar.MANIFEST, json.dumps({"format": ar.FORMAT_NAME, "format_version": ar.FORMAT_VERSION,
                                                     "files": {"../evil": {"sha256": "0", "size": 1}}}).encode()),
                           ("../evil", b"x")]:
            info = tarfile.TarInfo(f"{ar.TOP}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    cases = [(evil, "unsafe path '../evil'"), (truncated, "truncated"), (tiny, "truncated"), (notar, "not a .tar.gz"),
             (newer, "format version 99 (made by prefixasr 9.0)"), (tampered, "checksum mismatch for model.pt"),
             (tmp_path / "absent.tar.gz", "no such file"), (tmp_path, "is a directory")]
    for path, reason in cases:
        with pytest.raises(ar.ArchiveError) as e:
            ar.extract_archive(path, tmp_path / f"x_{path.stem}")
        msg = str(e.value)
        assert msg.startswith(str(path)) and reason in msg and "\n" not in msg, msg


def test_pack_cli_bad_exp_dir(tmp_path, capsys):
    assert pack_cli.main(["--exp-dir", str(tmp_path), "--out", str(tmp_path / "m.tar.gz")]) == 1
    err = capsys.readouterr().err  # setup_logging replaces pytest's log capture: read stderr
    assert "config.yaml not found" in err and not (tmp_path / "m.tar.gz").exists()


def test_an_archive_is_unpacked_once_into_the_cache(packed, tmp_path, monkeypatch):
    from prefixasr.inference.transcriber import load_any

    _, out = packed
    monkeypatch.setenv("PREFIXASR_CACHE", str(tmp_path / "cache"))
    real, calls = ar.extract_archive, []
    monkeypatch.setattr(ar, "extract_archive", lambda *a: calls.append(a) or real(*a))
    first, second = load_any(out, "cpu"), load_any(out, "cpu")
    assert len(calls) == 1, "the second load reuses the unpacked copy"
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == [ar._sha256(out)]
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
