"""run_systems.sh, the paper's comparison, on the micro corpus of its own (recipe_fixtures): four systems and the
low-resource pair, one table with segments, whole recordings and code-switched speech, the paired bootstrap
intervals and the LM's perplexity per language. Its own work dir, so it runs beside test_recipe_indic.py.

Needs espeak-ng (installed by `make -C tools`).
"""
import subprocess

import pytest

from recipe_fixtures import LANGS, MICRO_DATA_OPTS, MICRO_LM_ARGS, RECIPE, failed_run, recipe_env, text_dir

pytestmark = pytest.mark.needs_tool("espeak-ng")


def test_run_systems_compares_systems_against_both_baselines(tmp_path):
    work = tmp_path
    text_dir(work)
    cmd = [
        "bash", str(RECIPE / "run_systems.sh"),
        "--langs", " ".join(LANGS), "--systems", "rnnt_only ft_ce ft_ce_rnnt frozen_langid", "--epochs", "1",
        "--baselines", "ft_ce", "--compare", "ft_ce:ft_ce_rnnt ft_ce:frozen_langid",
        "--data_dir", str(work / "data"), "--exp_dir", str(work / "exp_sys"),
        "--results", str(work / "RESULTS_sys.md"), "--decode_args", "--ctc-weight 0 --max-new-tokens 8",
        "--",
        "--local_data_opts", MICRO_DATA_OPTS.format(text=work / "text"),
        "--nbpe", "60", "--nj", "1", "--avg", "1",
        "--lm_args", MICRO_LM_ARGS,
        "--pretrain_args", "train.num_epochs=1 train.warmup_steps=2",
    ]
    out = subprocess.run(cmd, env=recipe_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, failed_run("run_systems.sh", out)
    table = (work / "RESULTS_sys.md").read_text(encoding="utf-8")
    assert "Made by `cd egs/indic && ./run_systems.sh --langs" in table.split("## Environments")[0], "no command on top"
    for system in ("rnnt_only/rnnt_greedy", "ft_ce/llm_greedy", "ft_ce_rnnt/llm_greedy", "frozen_langid/llm_greedy"):
        assert system in table, f"{system} row missing"
    assert "rel. vs ft_ce" in table and "insertion rate" in table
    for set_name in ("test", "test_long", "test_cs", "test_cs_long"):
        assert f"## {set_name}: word insertion rate" in table, f"no insertion table for {set_name}"
    assert "_langid-predicted|" in table, "the langID-prompt system is also decoded with the predicted language"
    assert "|test|`ft_ce_rnnt/llm_greedy_" in table and "Effects with paired bootstrap" in table
    assert (work / "RESULTS_sys_effects.png").is_file()
    assert "## LM: held-out perplexity per language" in table and "|hi|" in table.split("## LM:")[1]
    assert "|test|`lowres_hi0.1_ft_ce_rnnt/llm_greedy_" in table, "the low-resource pair is compared"
