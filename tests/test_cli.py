"""The `ge4rec` command as a user meets it: help, list, validation errors, sweeps."""

import polars as pl

from conftest import TINY, run_cli, write_csv_folder


def assert_clean_error(result, fragment: str):
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ge4rec: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_list_shows_data_sets_models_and_paradigms(tmp_path):
    result = run_cli(["list"], tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("synthetic", "movielens100k", "csv", "fm", "deepfm", "dcnv2", "disc", "sfg"):
        assert name in result.stdout


def test_train_help_lists_the_config_groups(tmp_path):
    result = run_cli(["train", "--help"], tmp_path)
    assert result.returncode == 0
    for group in ("dataset:", "model:", "paradigm:", "trainer:"):
        assert group in result.stdout


def test_unknown_choices_and_keys_fail_before_anything_runs(tmp_path):
    assert_clean_error(run_cli(["train", "model=nosuch"], tmp_path), "unknown model 'nosuch' (choose from: ")
    assert_clean_error(run_cli(["train", "paradigm=gen"], tmp_path), "unknown paradigm 'gen'")
    assert_clean_error(run_cli(["train", "dataset=criteo9"], tmp_path), "unknown dataset 'criteo9'")
    assert_clean_error(run_cli(["train", "trainer.lrr=0.1"], tmp_path), "unknown config key 'trainer.lrr'")
    assert_clean_error(run_cli(["train", "-m", "model=fm,nosuch"], tmp_path), "unknown model 'nosuch'")
    assert_clean_error(run_cli(["train", "trainer.batch_size=many"], tmp_path), "trainer.batch_size")
    assert not (tmp_path / "results").exists() and not (tmp_path / "outputs").exists()


def test_bad_data_fails_with_one_line_and_leaves_nothing(tmp_path):
    folder = write_csv_folder(
        tmp_path / "data",
        {"train": "label,a,b\n1,x,2\n0,y,3\n", "valid": "label,a\n1,x\n", "test": "label,a,b\n0,x,1\n"},
    )
    result = run_cli(["train", "dataset=csv", f"dataset.path={folder}", "model=fm"], tmp_path)
    assert_clean_error(result, "valid.csv: column 'b' is missing")
    assert not (tmp_path / "results").exists()
    assert not [p for p in (tmp_path / "cache").glob("*") if p.is_dir()]


def test_a_six_job_sweep_leaves_six_rows(tmp_path):
    result = run_cli(
        [
            "train",
            "-m",
            "model=fm,deepfm,dcnv2",
            "paradigm=disc,sfg",
            "trainer.max_epochs=1",
            *TINY,
            "results_dir=results",
        ],
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = pl.read_parquet(str(tmp_path / "results") + "/*.parquet")
    assert rows.height == 6
    assert sorted(zip(rows["model"], rows["paradigm"])) == sorted(
        (m, p) for m in ("fm", "deepfm", "dcnv2") for p in ("disc", "sfg")
    )
    assert (rows["status"] == "completed").all() and (rows["test_auc"] > 0.5).all()
    assert len(list((tmp_path / "multirun").glob("*/*/*/metrics.json"))) == 6
