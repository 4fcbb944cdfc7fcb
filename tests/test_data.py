import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from ge4rec.data import CATEGORICAL, NUMERIC, SEQUENCE, load_dataset
from ge4rec.data.spec import FIRST_VALUE_ID, MISSING_ID, OOV_ID
from ge4rec.errors import ConfigError, DataError
from ge4rec.models.embedding import FeatureEmbedding

from conftest import TINY, compose_config, write_csv_folder

TRAIN = """click,user,city,price,tags,score
1,u1,paris,1.5,a^b,3
0,u2,rome,2.5,b,4
1,u1,,3.5,a^c^d,3
0,u3,paris,,c,5
1,u1,rome,0.5,a,3
0,u2,paris,4.5,,4
"""
VALID = """click,user,city,price,tags,score
1,u1,paris,1.0,a,3
0,u9,oslo,2.0,z^a,7
"""
TEST = """click,user,city,price,tags,score
0,u2,rome,2.0,b^c,4
1,u3,paris,3.0,d,5
"""


def csv_data(tmp_path: Path, **replace) -> Path:
    texts = {"train": TRAIN, "valid": VALID, "test": TEST, **replace}
    return write_csv_folder(tmp_path / "data", texts)


def load(tmp_path: Path, *overrides: str):
    """The CSV data set; TRAIN's one empty price is filled with the train mean (asked for here)."""
    cfg = compose_config(
        ["dataset=csv", f"dataset.path={tmp_path / 'data'}", "dataset.numeric_missing=mean", *overrides],
        tmp_path,
    )
    return load_dataset(cfg.dataset, cfg.cache_dir)


def cache_entries(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.name for p in cache.iterdir() if p.is_dir()) if cache.is_dir() else []


def test_schema_is_inferred_from_train(tmp_path):
    csv_data(tmp_path)
    data = load(tmp_path)
    types = {f.name: f.type for f in data.schema.fields}
    assert data.meta["label"] == "click"
    assert types == {
        "user": CATEGORICAL,
        "city": CATEGORICAL,
        "score": CATEGORICAL,
        "price": NUMERIC,
        "tags": SEQUENCE,
    }
    # table order: categorical, numeric, sequence; offsets are contiguous after the padding row
    assert [f.type for f in data.schema.fields] == [CATEGORICAL] * 3 + [NUMERIC, SEQUENCE]
    assert data.schema.fields[0].offset == 1
    for a, b in zip(data.schema.fields, data.schema.fields[1:]):
        assert b.offset == a.offset + a.vocab_size
    assert len(data.splits["train"]) == 6 and len(data.splits["valid"]) == 2


def test_vocabulary_fitted_on_train_only(tmp_path):
    csv_data(tmp_path)
    data = load(tmp_path)
    user = data.schema.fields[0]
    assert user.name == "user" and user.vocab_size == FIRST_VALUE_ID + 3  # u1, u2, u3
    valid_user = data.splits["valid"].cat[:, 0] - user.offset
    # u1 is the most frequent value in train -> first value id; u9 never seen in train -> OOV
    assert valid_user.tolist() == [FIRST_VALUE_ID, OOV_ID]
    city = data.schema.fields[1]
    train_city = data.splits["train"].cat[:, 1] - city.offset
    assert train_city[2].item() == MISSING_ID  # empty -> the missing id
    valid_tags = data.splits["valid"].seq[1]
    tags = data.schema.fields[4]
    assert valid_tags[0].item() == tags.offset + OOV_ID  # 'z' unseen
    assert tags.max_len == 3


def test_min_count_and_missing_as_oov(tmp_path):
    csv_data(tmp_path)
    data = load(tmp_path, "dataset.min_count=2", "dataset.missing=oov")
    user = data.schema.fields[0]
    assert user.vocab_size == FIRST_VALUE_ID + 2  # u3 seen once -> OOV
    ids = (data.splits["train"].cat[:, 0] - user.offset).tolist()
    assert ids[3] == OOV_ID
    city = (data.splits["train"].cat[:, 1] - data.schema.fields[1].offset).tolist()
    assert city[2] == OOV_ID


def test_numeric_normalised_with_train_statistics(tmp_path):
    csv_data(tmp_path)
    data = load(tmp_path)
    train_prices = np.array([1.5, 2.5, 3.5, 2.5, 0.5, 4.5])  # the missing one filled with the mean 2.5
    mean, std = 2.5, np.std([1.5, 2.5, 3.5, 0.5, 4.5], ddof=1)
    np.testing.assert_allclose(data.splits["train"].num[:, 0].numpy(), (train_prices - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(
        data.splits["valid"].num[:, 0].numpy(), (np.array([1.0, 2.0]) - mean) / std, rtol=1e-6
    )


def test_declared_fields_and_per_field_options(tmp_path):
    csv_data(tmp_path)
    data = load(
        tmp_path,
        "dataset.fields=[user,{name:score,type:numeric},price]",
        "+dataset.field_options.price.numeric=bucketize",
        "+dataset.field_options.price.num_buckets=2",
    )
    types = {f.name: f.type for f in data.schema.fields}
    assert types == {"user": CATEGORICAL, "price": CATEGORICAL, "score": NUMERIC}
    price = next(f for f in data.schema.fields if f.name == "price")
    assert price.vocab_size == FIRST_VALUE_ID + 2


def test_sequence_field_is_masked_mean_of_its_tokens(tmp_path):
    csv_data(tmp_path)
    data = load(tmp_path)
    emb = FeatureEmbedding(data.schema, dim=4, init_std=1.0)
    batch = data.splits["train"].as_batch()
    out, _ = emb(batch)
    tags = data.schema.fields[4]
    rows = batch.seq[2]  # a^c^d
    expected = emb.table.weight[rows[rows != 0].long()].mean(dim=0)
    torch.testing.assert_close(out[2, 4], expected)
    empty = batch.seq[5]  # no tags -> all padding -> zero vector
    assert (empty == 0).all() and torch.equal(out[5, 4], torch.zeros(4))
    assert tags.name == "tags"


def test_cache_reused_when_unchanged_and_rebuilt_on_a_changed_byte(tmp_path):
    folder = csv_data(tmp_path)
    first = load(tmp_path)
    assert not first.reused_cache
    again = load(tmp_path)
    assert again.reused_cache and again.cache_dir == first.cache_dir
    text = (folder / "test.csv").read_text()
    (folder / "test.csv").write_text(text.replace("3.0", "3.1"))  # one byte
    rebuilt = load(tmp_path)
    assert not rebuilt.reused_cache and rebuilt.cache_dir != first.cache_dir
    changed_config = load(tmp_path, "dataset.min_count=2")
    assert not changed_config.reused_cache
    assert load(tmp_path, "embedding_dim=4").reused_cache  # the embedding size is not part of the key


def test_one_folder_by_any_path_is_one_cache_entry(tmp_path, monkeypatch):
    folder = csv_data(tmp_path)
    first = load(tmp_path)
    (tmp_path / "link").symlink_to(folder)
    monkeypatch.chdir(tmp_path)
    for path in ("data", "./link", str(tmp_path / "link" / ".." / "data")):
        again = load(tmp_path, f"dataset.path={path}")
        assert again.reused_cache and again.cache_dir == first.cache_dir, path


@pytest.mark.parametrize(
    "replace, message",
    [
        ({"valid": VALID.replace(",tags,", ",tagz,")}, "column 'tags' is missing"),
        ({"train": TRAIN.replace("1,u1,paris", "3,u1,paris")}, "must be binary 0/1, found 3"),
        ({"test": ""}, "test.csv: file is empty"),
        ({"train": TRAIN.replace("click,", "clicked,")}, "no label column 'label' or 'click'"),
        ({"train": "click,user\n"}, "train.csv: no rows"),
    ],
)
def test_bad_input_is_a_clear_error_and_leaves_no_cache(tmp_path, replace, message):
    csv_data(tmp_path, **replace)
    with pytest.raises(DataError, match=message):
        load(tmp_path)
    assert cache_entries(tmp_path) == []


def test_unknown_field_option_is_a_config_error(tmp_path):
    csv_data(tmp_path)
    with pytest.raises(ConfigError, match="'colour' is not a field"):
        load(tmp_path, "+dataset.field_options.colour.min_count=2")
    assert cache_entries(tmp_path) == []


def test_single_file_split_by_ratio_and_parquet_sources(tmp_path):
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {"label": rng.integers(0, 2, 1000), "a": rng.integers(0, 5, 1000), "b": rng.random(1000)}
    )
    path = tmp_path / "all.parquet"
    frame.write_parquet(path)
    cfg = compose_config(
        ["dataset=csv", f"dataset.file={path}", "dataset.split_ratios=[0.7,0.2,0.1]"], tmp_path
    )
    data = load_dataset(cfg.dataset, cfg.cache_dir)
    assert [len(data.splits[s]) for s in ("train", "valid", "test")] == [700, 200, 100]
    assert {f.name: f.type for f in data.schema.fields} == {"a": CATEGORICAL, "b": NUMERIC}
    assert sorted(torch.cat([data.splits[s].label for s in data.splits]).tolist()) == sorted(
        frame["label"].cast(pl.Float32).to_list()
    )


def test_synthetic_is_reproducible_and_seeded(tmp_path):
    a = load_dataset(compose_config(TINY, tmp_path).dataset, tmp_path / "c1")
    b = load_dataset(compose_config(TINY, tmp_path).dataset, tmp_path / "c2")
    c = load_dataset(compose_config([*TINY, "dataset.synthetic.seed=1"], tmp_path).dataset, tmp_path / "c3")
    assert torch.equal(a.splits["train"].cat, b.splits["train"].cat)
    assert not torch.equal(a.splits["train"].label, c.splits["train"].label)
    assert a.schema.num_fields == 8  # 6 ID fields, amount, tags
    assert 0.2 < a.splits["train"].label.mean().item() < 0.8


def test_no_temporary_folders_left_after_success(tmp_path):
    csv_data(tmp_path)
    load(tmp_path)
    leftovers = [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert os.listdir(tmp_path / "cache")


def test_preprocessor_fits_on_train_and_reads_back_by_name(tmp_path):
    from ge4rec.data.preprocess import Options, Preprocessor
    from ge4rec.data.spec import FieldSpec

    folder = csv_data(tmp_path)
    data = load(tmp_path)
    frames = {s: pl.scan_csv(folder / f"{s}.csv", infer_schema=False) for s in ("train", "valid", "test")}
    specs = [FieldSpec(f.name, type=f.type) for f in data.schema.fields]
    pre = Preprocessor.from_specs(specs, "click", Options(numeric_missing="mean")).fit(frames["train"])
    assert pre.schema == data.schema
    for split, frame in frames.items():
        encoded = pre.transform(frame, f"{split}.csv")
        for part in ("cat", "num", "seq", "label"):
            np.testing.assert_array_equal(encoded[part], getattr(data.splits[split], part).numpy())

    # the saved state is keyed by field name: reordering what is on disk changes nothing
    saved = tmp_path / "saved"
    saved.mkdir()
    pre.save(saved)
    state = json.loads((saved / "preprocessor.json").read_text())
    state["fields"] = dict(reversed(state["fields"].items()))
    (saved / "preprocessor.json").write_text(json.dumps(state))
    vocabulary = pl.read_parquet(saved / "vocabulary.parquet")
    vocabulary.reverse().write_parquet(saved / "vocabulary.parquet")
    loaded = Preprocessor.load(saved)
    assert loaded.schema == data.schema
    assert loaded.by_name["user"].vocabulary.to_list() == ["u1", "u2", "u3"]
    np.testing.assert_array_equal(
        loaded.transform(frames["valid"], "valid.csv")["seq"], data.splits["valid"].seq.numpy()
    )
    assert data.preprocessor.by_name["price"].mean == pytest.approx(2.5)  # the cached entry's own


@pytest.mark.parametrize("coded", [True, False])
def test_many_fields_take_the_long_frame_path_with_identical_results(tmp_path, monkeypatch, coded):
    """Above WIDE_COLUMNS the checks and statistics run on the long frame; above CODED_COLUMNS
    the categorical fields are also counted by one group_by and looked up by one join instead
    of being read as codes. Every path encodes alike."""
    from ge4rec.data import prepare, preprocess, queries

    csv_data(tmp_path)
    wide = load(tmp_path)
    monkeypatch.setattr(queries, "WIDE_COLUMNS", 0)
    monkeypatch.setattr(preprocess, "WIDE_COLUMNS", 0)
    if not coded:
        monkeypatch.setattr(prepare, "CODED_COLUMNS", 0)
    built = []
    monkeypatch.setattr(
        prepare, "code_values", lambda *a, **k: built.append(1) or preprocess.code_values(*a, **k)
    )
    cfg = compose_config(
        ["dataset=csv", f"dataset.path={tmp_path / 'data'}", "dataset.numeric_missing=mean"], tmp_path
    )
    long = load_dataset(cfg.dataset, tmp_path / "other-cache")
    assert bool(built) == coded
    assert long.schema == wide.schema
    for split in wide.splits:
        for part in ("cat", "num", "seq", "label"):
            assert torch.equal(getattr(long.splits[split], part), getattr(wide.splits[split], part))


def test_chunks_of_many_columns_have_fewer_rows():
    from ge4rec.data.preprocess import CHUNK_COLUMNS, CHUNK_ROWS, _chunk_rows

    assert _chunk_rows(1) == _chunk_rows(CHUNK_COLUMNS) == CHUNK_ROWS
    assert _chunk_rows(CHUNK_COLUMNS * 10) == CHUNK_ROWS // 10
    assert _chunk_rows(10**9) == 1


def test_preprocessing_version_is_part_of_the_cache_key(tmp_path, monkeypatch):
    from ge4rec.data import prepare

    csv_data(tmp_path)
    first = load(tmp_path)
    monkeypatch.setattr(prepare, "PREPROCESSING_VERSION", prepare.PREPROCESSING_VERSION + 1)
    again = load(tmp_path)
    assert not again.reused_cache and again.cache_dir != first.cache_dir


def test_cache_entry_has_a_manifest_of_every_file(tmp_path):
    csv_data(tmp_path)
    entry = load(tmp_path).cache_dir
    manifest = json.loads((entry / "manifest.json").read_text())["files"]
    on_disk = {p.name for p in entry.iterdir()} - {"manifest.json"}
    assert set(manifest) == on_disk and {"preprocessor.json", "meta.json", "train_cat.npy"} <= on_disk
    assert all(manifest[name]["size"] == (entry / name).stat().st_size for name in manifest)


@pytest.mark.parametrize(
    "override, message",
    [
        ("dataset.numeric_missing=sometimes", "dataset.numeric_missing: 'sometimes'"),
        ("dataset.numeric=scale", "dataset.numeric: 'scale'"),
        ("dataset.fingerprint=size", "dataset.fingerprint: 'size'"),
        ("+dataset.field_options.price.missing=token", "field 'price': missing 'token'"),
    ],
)
def test_bad_preprocessing_options_are_config_errors(tmp_path, override, message):
    csv_data(tmp_path)
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, override)
    assert cache_entries(tmp_path) == []


def test_splits_stream_into_memory_mapped_files_chunk_by_chunk(tmp_path, monkeypatch):
    """Encoding in chunks of 3 rows writes the same arrays as one chunk, and the loaded splits
    are views of the cache files (memory maps), not copies."""
    from ge4rec.data import preprocess

    csv_data(tmp_path)
    whole = load(tmp_path)
    monkeypatch.setattr(preprocess, "CHUNK_ROWS", 3)
    cfg = compose_config(
        ["dataset=csv", f"dataset.path={tmp_path / 'data'}", "dataset.numeric_missing=mean"], tmp_path
    )
    chunked = load_dataset(cfg.dataset, tmp_path / "other-cache")
    for split in whole.splits:
        for part in ("cat", "num", "seq", "label"):
            assert torch.equal(getattr(chunked.splits[split], part), getattr(whole.splits[split], part))
    for part in ("cat", "num", "label"):
        assert mapped_file(getattr(chunked.splits["train"], part).data_ptr()) == str(
            chunked.cache_dir / f"train_{part}.npy"
        )


@pytest.mark.parametrize("fitted_from", ["codes", "value_counts"])
def test_codes_encode_exactly_as_the_value_expressions(tmp_path, monkeypatch, fitted_from):
    """Train read once as codes (counted, then encoded from the codes file) and another split
    coded against train's values give the arrays of the per-value expressions, 2 rows a chunk:
    empty values, values under min_count, values train never had, integers, missing=oov. The
    vocabularies fitted from the codes' counts carry each value's code; fitted from a plain
    value count, the vocabulary's values are coded again: both encode alike."""
    from ge4rec.data import preprocess
    from ge4rec.data.preprocess import Options, Preprocessor, code_values, value_counts
    from ge4rec.data.queries import collect
    from ge4rec.data.spec import FieldSpec

    monkeypatch.setattr(preprocess, "CHUNK_ROWS", 2)
    train = pl.DataFrame(
        {
            "click": [1, 0, 1, 0, 1, 0, 1],
            "a": ["x", "y", None, "x", "z", "x", "y"],
            "b": [3, 1, 3, None, 2, 3, 1],
            "c": ["p", None, "q", "p", "p", "r", "q"],
        }
    )
    valid = pl.DataFrame(
        {
            "click": [0, 1, 0, 1, 1],
            "a": ["w", None, "x", "z", "v"],
            "b": [9, 3, None, 1, 2],
            "c": ["q", "s", None, "p", "t"],
        }
    )
    specs = [
        FieldSpec("a", type=CATEGORICAL),
        FieldSpec("b", type=CATEGORICAL, min_count=2),
        FieldSpec("c", type=CATEGORICAL, missing="oov"),
    ]
    names = ["a", "b", "c"]
    codes = code_values(train.lazy(), names, tmp_path / "codes.tmp", "train")
    assert codes.rows == 7 and codes.array().shape == (7, 3)
    order = ["\0field", "\0value"]
    counted = collect(value_counts(train.lazy(), names), "train")
    assert codes.counts().drop("\0code").sort(order).equals(counted.sort(order))
    for name in names:  # the code column names each value's code
        of_field = codes.counts().filter(pl.col("\0field") == name)
        assert of_field["\0value"].to_list() == [codes.values[name][k - 1] for k in of_field["\0code"]]
    counts = codes.counts() if fitted_from == "codes" else counted
    pre = Preprocessor.from_specs(specs, "click", Options()).fit(train.lazy(), counts=counts)
    assert bool(pre._vocabulary_codes) == (fitted_from == "codes")
    for split, frame in (("train", train), ("valid", valid)):
        expected = pre.transform(frame.lazy(), split)
        pre.transform_to(frame.lazy(), tmp_path, split, frame.height, split, codes, coded=split == "train")
        for part in ("cat", "label"):
            np.testing.assert_array_equal(np.load(tmp_path / f"{split}_{part}.npy"), expected[part])
    cat = np.load(tmp_path / "valid_cat.npy")
    offsets = {f.name: f.offset for f in pre.schema.fields}
    assert cat[0, 0] == offsets["a"] + OOV_ID and cat[4, 0] == offsets["a"] + OOV_ID  # never in train
    assert cat[1, 0] == offsets["a"] + MISSING_ID and cat[2, 2] == offsets["c"] + OOV_ID  # empty
    assert cat[4, 1] == offsets["b"] + OOV_ID  # "2" occurs once in train, under min_count 2
    with pytest.raises(DataError, match=r"train: 7 rows read, 8 counted"):
        pre.transform_to(train.lazy(), tmp_path, "train", 8, "train", codes, coded=True)
    codes.remove()
    assert not (tmp_path / "codes.tmp").exists()


DECLARED = [
    "dataset.exclude=[tags]",
    "+dataset.field_options.price.type=numeric",
    "+dataset.field_options.score.type=numeric",
]


@pytest.mark.parametrize("declared", [False, True], ids=["inferred", "declared"])
def test_train_columns_kept_from_the_coding_pass_encode_as_the_file_does(tmp_path, monkeypatch, declared):
    """Train's label and numeric columns, kept from the coding pass, give the cache that parsing
    train again gives, byte for byte (numeric fill, z-scores, labels). They are used when they
    hold every column the preprocessing reads: declared numeric fields are kept; text that type
    inference makes numeric or a sequence is known only after the pass, so train is read again."""
    from ge4rec.data.preprocess import TrainCodes

    csv_data(tmp_path)
    original = TrainCodes.frame
    used = []

    def spy(self, source, columns):
        frame = original(self, source, columns)
        used.append(frame is not source)
        return frame

    monkeypatch.setattr(TrainCodes, "frame", spy)
    overrides = DECLARED if declared else []
    kept = load(tmp_path, *overrides)
    assert used == [declared]
    monkeypatch.setattr(TrainCodes, "frame", lambda self, source, columns: source)
    (tmp_path / "reread").mkdir()
    (tmp_path / "reread" / "data").symlink_to(tmp_path / "data")
    reread = load(tmp_path / "reread", *overrides)
    files = sorted(p.name for p in kept.cache_dir.iterdir())
    assert files == sorted(p.name for p in reread.cache_dir.iterdir())
    assert not [name for name in files if name.endswith(".arrow") or name.startswith("train_codes")]
    for name in files:
        if name.endswith(".npy"):
            assert (kept.cache_dir / name).read_bytes() == (reread.cache_dir / name).read_bytes(), name


def test_no_codes_file_is_left_in_the_cache_entry(tmp_path):
    from ge4rec.data import prepare

    csv_data(tmp_path)
    entry = load(tmp_path).cache_dir
    assert not (entry / prepare._CODES_FILE).exists()
    assert not list(tmp_path.rglob(prepare._CODES_FILE))


def mapped_file(address: int) -> str | None:
    """The file a memory address of this process is mapped from (/proc/self/maps), if any."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if low <= address < high:
            return fields[5] if len(fields) == 6 else None
    return None


def test_a_row_count_that_changes_during_encoding_is_an_error(tmp_path):
    from ge4rec.data.preprocess import Options, Preprocessor
    from ge4rec.data.spec import FieldSpec

    folder = csv_data(tmp_path)
    frame = pl.scan_csv(folder / "train.csv", infer_schema=False)
    pre = Preprocessor.from_specs([FieldSpec("user", type=CATEGORICAL)], "click", Options()).fit(frame)
    out = tmp_path / "out"
    out.mkdir()
    assert pre.transform_to(frame, out, "train", 6, "train.csv") == 6
    assert np.load(out / "train_cat.npy").shape == (6, 1)
    with pytest.raises(DataError, match=r"train.csv: 6 rows encoded, 7 counted"):
        pre.transform_to(frame, out, "train", 7, "train.csv")
    with pytest.raises(DataError, match=r"train.csv: more rows than counted \(5\)"):
        pre.transform_to(frame, out, "train", 5, "train.csv")


def _numbered_split(n: int):
    from ge4rec.data.batches import SplitTensors

    rows = torch.arange(n)
    return SplitTensors(
        rows.view(n, 1).int(), rows.view(n, 1).float(), torch.zeros(n, 0, dtype=torch.int32), rows.float()
    )


@pytest.mark.parametrize(
    "n, batch, block, window", [(1000, 64, 100, 3), (1000, 1000, 7, 2), (257, 16, 300, 4)]
)
def test_block_shuffle_visits_every_row_once_in_full_batches(n, batch, block, window):
    split = _numbered_split(n)
    gen = torch.Generator().manual_seed(0)
    batches = list(split.batches(batch, shuffle=True, generator=gen, block_rows=block, window=window))
    assert len(batches) == split.num_batches(batch)
    assert all(len(b) == batch for b in batches[:-1])
    seen = torch.cat([b.label for b in batches]).long()
    assert sorted(seen.tolist()) == list(range(n))
    assert not torch.equal(seen, torch.arange(n))  # shuffled
    if batch <= block * window:  # the first batch's rows come from the first window's blocks
        first = batches[0].label.long() // block
        assert len(set(first.tolist())) <= window


def test_block_shuffle_is_seeded_and_differs_from_the_full_shuffle():
    split = _numbered_split(5000)

    def epoch(seed, **blocks):
        gen = torch.Generator().manual_seed(seed)
        return torch.cat([b.label for b in split.batches(100, shuffle=True, generator=gen, **blocks)])

    blocks = {"block_rows": 250, "window": 4}
    assert torch.equal(epoch(3, **blocks), epoch(3, **blocks))
    assert not torch.equal(epoch(3, **blocks), epoch(4, **blocks))
    assert not torch.equal(epoch(3, **blocks), epoch(3))
    # the full shuffle spreads a batch over the whole split, blocks over one window of blocks
    spread_full = len(set((epoch(3)[:100].long() // 250).tolist()))
    spread_blocks = len(set((epoch(3, **blocks)[:100].long() // 250).tolist()))
    assert spread_blocks <= 4 < spread_full
