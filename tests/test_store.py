"""The results store under concurrent writers."""

import multiprocessing as mp

import polars as pl

from ge4rec.results import new_run_id, read_results, write_row


def _writer(folder: str, worker: int, count: int) -> None:
    for k in range(count):
        write_row(
            folder,
            {
                "run_id": f"{new_run_id()}-{worker}-{k}",
                "model": "fm",
                "paradigm": "sfg",
                "seed": worker,
                "status": "completed",
                "test_auc": 0.5 + k / 100,
            },
        )


def test_concurrent_writers_lose_no_rows(tmp_path):
    folder = str(tmp_path / "results")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(folder, w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = pl.read_parquet(folder + "/*.parquet")
    assert rows.height == 60 and rows["run_id"].n_unique() == 60
    assert sorted(rows.group_by("seed").len()["len"].to_list()) == [15] * 4
    assert not [p for p in (tmp_path / "results").iterdir() if p.suffix != ".parquet"]  # no temp files


def test_rows_with_and_without_optional_values_read_as_one_table(tmp_path):
    write_row(tmp_path, {"run_id": "a", "status": "failed", "error": "loss became nan"})
    write_row(tmp_path, {"run_id": "b", "status": "completed", "test_auc": 0.77, "best_epoch": 3})
    rows = pl.read_parquet(str(tmp_path) + "/*.parquet").sort("run_id")
    assert rows["status"].to_list() == ["failed", "completed"]
    assert rows["test_auc"].to_list() == [None, 0.77]
    assert read_results(tmp_path).height == 2


def test_every_row_has_the_declared_columns_and_extra_keys_stay_in_their_row(tmp_path):
    from ge4rec.analysis.run_analysis import SCALAR_COLUMNS
    from ge4rec.results import ANALYSIS_COLUMNS, COLUMNS, RUN_COLUMNS, row_schema

    assert set(ANALYSIS_COLUMNS) == set(SCALAR_COLUMNS)
    assert COLUMNS == {**RUN_COLUMNS, **ANALYSIS_COLUMNS, "analysis_error": pl.String}
    write_row(tmp_path, {"run_id": "a", "status": "completed", "gamma_probe": 0.5})
    write_row(tmp_path, {"run_id": "b", "status": "completed"})
    a, b = (pl.read_parquet(tmp_path / f"{name}.parquet") for name in ("a", "b"))
    assert list(b.schema.items()) == list(COLUMNS.items())  # nothing leaks from the row before
    assert a.columns == [*COLUMNS, "gamma_probe"] and a["gamma_probe"].item() == 0.5
    assert row_schema() == COLUMNS
