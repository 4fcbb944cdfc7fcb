"""Real data: MovieLens 100K as CTR, when ../shared/data is present."""

from ge4rec.data import SEQUENCE, load_dataset
from ge4rec.run import train_run

from conftest import MOVIELENS, compose_config, needs_movielens


@needs_movielens
def test_movielens_schema_and_a_short_fm_run(tmp_path):
    cfg = compose_config(
        [
            "dataset=movielens100k",
            f"dataset.path={MOVIELENS}",
            "model=fm",
            "paradigm=sfg",
            "trainer.max_epochs=8",
            "trainer.progress=false",
            "analysis.enabled=false",
        ],
        tmp_path,
    )
    data = load_dataset(cfg.dataset, cfg.cache_dir)
    assert data.schema.num_fields == 10 and int(cfg.embedding_dim) == 10
    assert [f.name for f in data.schema.of_type(SEQUENCE)] == ["genres"]
    assert [len(data.splits[s]) for s in ("train", "valid", "test")] == [70000, 19999, 10001]
    metrics = train_run(cfg, tmp_path / "run")
    # an FM that learns nothing scores 0.5; one that learns only item popularity about 0.70
    assert metrics["test"]["auc"] > 0.745, metrics["test"]
