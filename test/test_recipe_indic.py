"""A micro run of egs/indic/run.sh from stage 0 to the last stage (2 languages, a few utterances,
1 epoch), then: a rerun skips every stage, and `--stage N` resumes from N.

Needs espeak-ng (installed by `make -C tools`); the text is the hand-written test fixture, so no
download happens.
"""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from recipe_fixtures import (LANGS, RECIPE, decode_dir, failed_run, micro_run_opts, recipe_env, run_recipe,
                             text_dir)

LAST_STAGE = 11

pytestmark = pytest.mark.needs_tool("espeak-ng")


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("indic_micro")
    text_dir(work)
    log = run_recipe(work)
    return work, log


def test_every_stage_ran_and_wrote_its_outputs(micro_run):
    work, log = micro_run
    for n in range(LAST_STAGE + 1):
        assert f"Stage {n}:" in log, f"stage {n} did not run"
    exp = work / "exp" / "train"
    for f in ("config.yaml", "epoch-1.pt", "model.tar.gz"):
        assert (exp / f).is_file(), f
    for method in ("llm_greedy", "rnnt_greedy"):
        for d in (decode_dir(exp, f"decode_test_{method}_avg1_max-new-tokens8"),
                  decode_dir(exp, f"decode_test_long_{method}_avg1_max-new-tokens8_*")):
            assert (d / "text").is_file() and (d / "wer").is_file(), d
            assert (d / "run.sh").is_file(), "each decode dir gets a replay script"
            info = json.loads((d / "decode_info.json").read_text(encoding="utf-8"))
            assert info["options"]["script_mask"] is True, "the demo system's decode.script_mask reaches decoding"
    assert (decode_dir(exp, "decode_test_unseen_llm_greedy_*") / "wer").is_file(), "the second test set is decoded too"
    assert (decode_dir(exp, "decode_test_noisy_llm_greedy_*") / "wer").is_file(), "and the noisy copy of test"
    noisy = (work / "data" / "manifests" / "test_noisy_supervisions.jsonl.gz")
    assert "babble at 10 dB SNR" in log and noisy.is_file()
    results = (work / "RESULTS.md").read_text(encoding="utf-8")
    assert "|system|hi|ta|avg|" in results, "a per-language table"
    assert "## test_unseen: CER" in results, "the second test set is scored beside the first"
    assert "## test_noisy: CER" in results
    assert "Training curves" in results and (work / "RESULTS_curves.png").is_file(), "dev CER per epoch, plotted"
    table = (exp / "train.log").read_text(encoding="utf-8").split("per-epoch history")[-1]
    assert "cer_llm_greedy" in table and "cer_rnnt_greedy" in table, "train.log ends with the per-epoch table"
    assert (work / "RESULTS_test_wer.png").is_file(), "and its bar chart"


def test_rerun_skips_every_stage(micro_run):
    work, _ = micro_run
    before = {p: p.stat().st_mtime_ns for p in (work / "exp").rglob("*") if p.is_file()}
    log = run_recipe(work)
    assert "skipping" in log
    for p in ("prepare_synthetic", "train_lm.py", "trainer.py", "decode.py"):
        assert f"[{p}" not in log, f"a rerun ran {p} again"
    changed = [p for p, t in before.items() if p.exists() and p.stat().st_mtime_ns != t and p.name != "RESULTS.md"]
    assert not changed, f"a rerun rewrote {changed[:5]}"


def test_stage_option_resumes_from_that_stage(micro_run):
    work, _ = micro_run
    rnnt = decode_dir(work / "exp" / "train", "decode_test_rnnt_greedy_*")
    shutil.rmtree(rnnt)
    log = run_recipe(work, "--stage", "9", "--stop_stage", "10")
    assert "Stage 0:" not in log and "Stage 7:" not in log
    assert (rnnt / "wer").is_file()


def test_the_recipe_counts_an_ngram_and_decodes_with_it_and_its_decode_settings(micro_run):
    """run.sh's --use_ngram true: stage 5 counts the n-gram, stage 8 puts it in the system (config, exp dir, packed
    model) beside conf/train.yaml's word penalty, and the LLM decodes with both (the decode dir's settings say so).
    The decode settings are not what training reads: --use_ngram false or a decode.* option redoes stages 8-9 of
    the same system, not its training."""
    import tarfile

    import yaml

    work, log = micro_run
    assert "count a 6-gram LM" in log and (work / "exp" / "ngram" / "6gram.npz").is_file()
    exp = work / "exp" / "train"
    cfg = yaml.safe_load((exp / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["exp_files"]["ngram"] == "ngram.npz" and (exp / "ngram.npz").is_file()
    assert cfg["decode"]["ngram_weight"] == 0.7 and cfg["decode"]["word_penalty"] == 3.0
    assert cfg["decode"]["method"] == "llm_beam", "conf/train.yaml: transcribe searches with a beam"
    greedy = "decode_test_llm_greedy_avg1_max-new-tokens8"
    info = json.loads((decode_dir(exp, greedy) / "decode_info.json").read_text(encoding="utf-8"))
    assert info["options"]["ngram_weight"] == 0.7 and info["options"]["word_penalty"] == 3.0
    assert "_ngram-0.7_wip-3" in info["suffix"]
    with tarfile.open(exp / "model.tar.gz") as tar:
        assert any(n.endswith("ngram.npz") for n in tar.getnames()), "the packed model carries its n-gram"

    weights = (exp / "epoch-1.pt").stat().st_mtime_ns
    # stages 7-9 (a changed --test_sets would redo the data stages), decoding one set one way
    quick = ("--stage", "7", "--stop_stage", "9", "--test_sets", "test", "--decode_methods", "llm_greedy",
             "--long_form", "false")
    log = run_recipe(work, *quick, "--use_ngram", "false", "--asr_args", "train.num_epochs=1 train.warmup_steps=2 "
                     "decode.word_penalty=2")
    assert "Stage 7: train" not in log and "Stage 8: write the decode settings" in log
    assert (exp / "epoch-1.pt").stat().st_mtime_ns == weights, "the system was not retrained"
    cfg = yaml.safe_load((exp / "config.yaml").read_text(encoding="utf-8"))
    assert not cfg["exp_files"].get("ngram") and not (exp / "ngram.npz").exists()
    assert cfg["decode"]["word_penalty"] == 2.0 and cfg["decode"]["ngram_weight"] == 0.0
    info = json.loads((decode_dir(exp, greedy) / "decode_info.json").read_text(encoding="utf-8"))
    assert info["options"]["ngram_weight"] == 0.0 and info["options"]["word_penalty"] == 2.0, "decoded again"

    log = run_recipe(work, *quick)  # the run's own settings back, for the tests after this one
    assert "Stage 7: train" not in log and (exp / "ngram.npz").is_file()


def _tiny_whisper_block(work: Path) -> Path:
    """An encoder block: a tiny random Whisper, frozen, with a one-layer adapter (written once)."""
    import yaml

    from whisper_fixtures import write_tiny_whisper

    block = work / "tiny_whisper.yaml"
    if not block.is_file():
        whisper = write_tiny_whisper(work / "models" / "tiny-whisper")
        block.write_text(yaml.safe_dump({"model": {"input_dim": 32, "encoder": {
            "type": "adapter", "path": str(whisper), "d_model": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64,
            "kernel_size": 5, "pos_enc": "none", "xscale": False,
            "adapter": {"input": "tiny-whisper", "stride": 2}}}}), encoding="utf-8")
    return block


def _tiny_whisper_ft_block(work: Path) -> Path:
    """An encoder block: a tiny random Whisper with a 30 s window, fine-tuned on its own log-mel (written once)."""
    import yaml

    from whisper_fixtures import write_tiny_whisper

    block = work / "tiny_whisper_ft.yaml"
    if not block.is_file():
        whisper = write_tiny_whisper(work / "models" / "tiny-whisper-30s", max_source_positions=1500)
        block.write_text(yaml.safe_dump({"model": {"input_dim": 80, "encoder": {"type": "hf", "path": str(whisper)}},
                                         "train": {"lr_scales": {"encoder": 0.05}}}), encoding="utf-8")
    return block


def test_the_recipe_runs_on_a_frozen_whisper_with_an_adapter(micro_run):
    """run.sh --encoder_config <a block with a frozen Whisper + adapter>: stage 3 caches the Whisper's outputs (its
    own kind of features, in their own directory), stage 6 pre-trains the adapter (the block layered over
    conf/pretrain.yaml, in its own exp dir), stage 7 trains the system on it, stage 9 decodes every test set from
    the cached outputs, stage 11 packs the frozen Whisper into the model; the Conformer's dirs are left alone.
    --train_augment: the training set's noise and reverb copies are cached beside it and trained on."""
    import tarfile

    import yaml
    from lhotse import CutSet

    work, _ = micro_run
    block = _tiny_whisper_block(work)
    conformer = {p: p.stat().st_mtime_ns for p in (work / "exp" / "pretrain").rglob("*") if p.is_file()}
    log = run_recipe(work, "--stage", "3", "--encoder_config", str(block), "--asr_tag", "adapter",
               "--train_augment", "noise reverb")
    assert "Stage 3: features (encoder) -> " in log and "Stage 6: pre-train the encoder" in log
    train = work / "data" / "tiny-whisper" / "train_noise_reverb_cuts.jsonl.gz"
    cuts = CutSet.from_file(train).to_eager()
    assert next(iter(cuts)).features.type == "encoder:tiny-whisper"
    assert len(cuts) == 3 * len([c for c in cuts if not c.id.endswith(("_noise", "_rvb"))])
    pre = work / "exp" / "pretrain_tiny_whisper"
    assert str(block) in (pre / "system.yaml").read_text(encoding="utf-8")
    cfg = yaml.safe_load((work / "exp" / "adapter" / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["model"]["encoder"]["type"] == "adapter" and cfg["model"]["init"]["path"].endswith(pre.name)
    assert cfg["data"]["train_cuts"] == str(train)
    for dset in ("test", "test_unseen", "test_noisy"):
        d = decode_dir(work / "exp" / "adapter", f"decode_{dset}_llm_greedy_*")
        assert (d / "wer").is_file()
        assert "tiny-whisper" in json.loads((d / "decode_info.json").read_text(encoding="utf-8"))["cuts"]
    with tarfile.open(work / "exp" / "adapter" / "model.tar.gz") as tar:
        assert any("frozen_encoder/config.json" in n for n in tar.getnames()), "the packed model carries its Whisper"
    assert conformer == {p: p.stat().st_mtime_ns for p in (work / "exp" / "pretrain").rglob("*") if p.is_file()}


def test_run_encoders_compares_encoders_on_clean_and_augmented_training(micro_run):
    """run_encoders.sh on the micro data (its LM reused): the Conformer, a frozen Whisper + adapter and a fine-tuned
    Whisper, each trained on the training set with its noise copy at equal steps (half the epochs), one table with
    test_noisy, the comparisons with paired bootstrap intervals and each encoder's wall time."""
    work, _ = micro_run
    block, ft_block = _tiny_whisper_block(work), _tiny_whisper_ft_block(work)
    cmd = ["bash", str(RECIPE / "run_encoders.sh"), "--langs", " ".join(LANGS), "--data_dir", str(work / "data"),
           "--exp_dir", str(work / "exp"), "--encoders", f"conformer:- tiny:{block} tiny_ft:{ft_block}",
           "--augments", "noise",
           "--pretrain_epochs", "2", "--system_epochs", "2", "--decode_methods", "llm_greedy",
           "--results", str(work / "RESULTS_encoders.md"), "--", *micro_run_opts(work, pretrain=False),
           "--long_form", "false"]
    out = subprocess.run(cmd, env=recipe_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, failed_run("run_encoders.sh", out)
    assert "Stage 0: prepare" not in out.stderr, "the shared data stage was done already"
    exp = work / "exp"
    for tag in ("conformer_noise", "tiny_noise", "tiny_ft_noise"):
        assert (decode_dir(exp / tag, "decode_test_noisy_llm_greedy_*") / "wer").is_file(), tag
    import yaml

    cfg = yaml.safe_load((exp / "tiny_noise" / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["data"]["train_cuts"].endswith("tiny-whisper/train_noise_cuts.jsonl.gz")
    assert cfg["train"]["num_epochs"] == 1, "two copies: half the epochs"
    assert yaml.safe_load((exp / "pretrain_tiny_whisper_noise" / "config.yaml").read_text(
        encoding="utf-8"))["train"]["num_epochs"] == 1
    table = (work / "RESULTS_encoders.md").read_text(encoding="utf-8")
    assert "Made by `cd egs/indic && ./run_encoders.sh" in table and "tiny_noise: features" in table
    assert "## test_noisy: CER" in table and "## Effects with paired bootstrap 95% intervals" in table
    assert "`tiny_noise/" in table.split("## Effects")[1], "the augmented pair is compared too"
    ft = yaml.safe_load((exp / "tiny_ft_noise" / "config.yaml").read_text(encoding="utf-8"))
    assert ft["data"]["train_cuts"].endswith("whisper_mel/train_noise_cuts.jsonl.gz"), "Whisper's own log-mel"
    assert ft["model"]["encoder"]["type"] == "hf"
    assert ft["model"]["init"]["path"].endswith("pretrain_tiny_whisper_ft_noise"), "stage 6's fine-tuned Whisper"
    assert "`tiny_ft_noise/" in table.split("## Effects")[1] and "tiny_ft_noise: features" in table


def _tiny_gemma_block(work: Path, name: str) -> tuple[Path, Path]:
    """A tiny random Gemma 3 (its tokenizer from the micro text) and an LLM block that layers conf/llm/gemma3_270m.yaml
    with it; the block does not take the micro run's pre-trained projector and RNN-T, narrower than Gemma's prefix,
    which the real block widens."""
    import yaml

    from hf_llm_fixtures import write_tiny_llm

    texts = [l for f in sorted((work / "text").glob("*.txt")) for l in f.read_text(encoding="utf-8").splitlines()]
    tiny = write_tiny_llm("gemma3", work / "models" / name, texts)
    block = work / f"{name}.yaml"
    block.write_text(yaml.safe_dump({"include": [str(RECIPE.parents[1] / "conf" / "llm" / "gemma3_270m.yaml")],
                                     "model": {"llm": {"path": str(tiny)},
                                               "init": {"modules": ["encoder", "encoder_ctc", "lid_head"], "widen": []}}}),
                     encoding="utf-8")
    return tiny, block


def test_the_recipe_adapts_a_pretrained_llm_to_its_text_and_trains_on_it(micro_run):
    """run.sh --llm_config <a tiny Gemma 3's block> --llm_adapt_config conf/lm/gemma3_270m_adapt.yaml: stage 5 adapts
    that LLM to the recipe's LM text (train_lm from its weights and tokenizer; --lm_args shorten it) into its own exp
    dir, with its held-out perplexity; stage 7 trains the system on the adapted LLM, stage 9 decodes with it; a rerun
    skips the adaptation, and the recipe's own LM is left alone."""
    import yaml

    work, _ = micro_run
    tiny, block = _tiny_gemma_block(work, "tiny-gemma3")
    small_lm = {p: p.stat().st_mtime_ns for p in (work / "exp" / "lm").rglob("*") if p.is_file()}
    args = ("--stage", "5", "--stop_stage", "9", "--llm_config", str(block), "--asr_tag", "tiny_gemma",
            "--llm_adapt_config", str(RECIPE.parents[1] / "conf" / "lm" / "gemma3_270m_adapt.yaml"),
            "--decode_methods", "llm_greedy", "--long_form", "false")
    log = run_recipe(work, *args)
    adapted = work / "exp" / "lm_gemma3_270m_adapt"
    assert "Stage 5: adapt" in log
    saved = yaml.safe_load((adapted / "config.yaml").read_text(encoding="utf-8"))
    assert saved["model"]["pretrained"] == str(tiny) and saved["train"]["num_steps"] == 5, "--lm_args shorten it"
    assert (adapted / "hf" / "config.json").is_file() and (adapted / "hf" / "tokenizer.json").is_file()
    assert json.loads((adapted / "perplexity.json").read_text(encoding="utf-8"))
    cfg = yaml.safe_load((work / "exp" / "tiny_gemma" / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["model"]["llm"]["path"] == str(adapted / "hf")
    assert (decode_dir(work / "exp" / "tiny_gemma", "decode_test_llm_greedy_*") / "wer").is_file()
    assert small_lm == {p: p.stat().st_mtime_ns for p in (work / "exp" / "lm").rglob("*") if p.is_file()}
    again = run_recipe(work, *args)
    assert "Stage 5: adapt" not in again and "lm_gemma3_270m_adapt is done already" in again


def test_run_gemma_pairs_a_pretrained_llm_with_the_small_lm_and_compares_its_systems(micro_run):
    """run_gemma.sh on the micro data with a tiny random Gemma 3 and a tiny fine-tuned Whisper (its defaults' kinds):
    the small LM's system and the LLM's, the LLM adapted to the LM text first, every stage 7 with the SpecAugment
    of its asr_args, the small LM's twice (a second seed), then a comparison pair of the paper's systems, one table
    with their paired intervals, the small LM's side the mean of its two runs."""
    import yaml

    work, _ = micro_run
    _, block = _tiny_gemma_block(work, "tiny-gemma3-pair")
    exp, results = work / "exp_gemma", work / "RESULTS_gemma.md"
    cmd = ["bash", str(RECIPE / "run_gemma.sh"), "--langs", " ".join(LANGS), "--data_dir", str(work / "data"),
           "--exp_dir", str(exp), "--llm_config", str(block), "--encoder_config", str(_tiny_whisper_ft_block(work)),
           "--asr_args", "data.loader.spec_augment=true data.loader.num_frame_masks=1 train.num_epochs=1 "
                         "train.warmup_steps=2",
           "--comparisons", "frozen_shared frozen_langid_rnnt", "--decode_methods", "llm_beam",
           "--small_lm_runs", "2",
           "--results", str(results), "--", *micro_run_opts(work), "--long_form", "false"]
    out = subprocess.run(cmd, env=recipe_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, failed_run("run_gemma.sh", out)
    assert "Stage 5: adapt" in out.stderr
    gemma = yaml.safe_load((exp / "gemma" / "config.yaml").read_text(encoding="utf-8"))
    assert gemma["model"]["llm"]["path"] == str(exp / "lm_gemma3_270m_adapt" / "hf"), "trained on the adapted LLM"
    assert gemma["model"]["encoder"]["type"] == "hf" and gemma["data"]["loader"]["spec_augment"] is True
    small = yaml.safe_load((exp / "small_lm" / "config.yaml").read_text(encoding="utf-8"))
    assert small["model"]["llm"]["path"] == str(exp / "lm" / "hf") and small["data"]["loader"]["spec_augment"] is True
    seed1 = yaml.safe_load((exp / "small_lm_seed1" / "config.yaml").read_text(encoding="utf-8"))
    assert seed1["train"]["seed"] == 1 != small["train"]["seed"] and seed1["data"]["loader"]["spec_augment"] is True
    assert not (exp / "gemma_seed1").exists(), "Gemma runs once by default"
    for tag in ("small_lm", "small_lm_seed1", "gemma", "gemma_frozen_shared", "gemma_frozen_langid_rnnt"):
        assert (decode_dir(exp / tag, "decode_test_llm_*") / "wer").is_file(), tag
    table = results.read_text(encoding="utf-8")
    assert "Made by `cd egs/indic && ./run_gemma.sh" in table
    effects = table.split("## Effects with paired bootstrap 95% intervals")[1]
    assert "`gemma/" in effects and "`gemma_frozen_langid_rnnt/" in effects
    assert "(mean of 2 runs: small_lm, small_lm_seed1)" in effects
