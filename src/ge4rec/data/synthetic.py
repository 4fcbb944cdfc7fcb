"""The built-in data set: clicks drawn from planted field interactions, reproducible from a seed.

Fields have very different cardinalities and Zipf-like value frequencies, as ID features in real
logs do. The click logit is a sum of a weak first-order part, low-rank pairwise interactions
(FM's own form), three-way interactions (what FM cannot, deep and cross models can) and
Gaussian noise; so the models order LR < FM < deep models, with AUC well above 0.5.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ge4rec.errors import ConfigError

# Part of the cache key of the built-in data set: bump it whenever generation changes (any change
# to what `simulate` draws for the same config), or runs will reuse data drawn by the old code.
GENERATOR_VERSION = 1


def _zipf_sample(rng: np.random.Generator, cardinality: int, exponent: float, n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, cardinality + 1) ** exponent
    cdf = np.cumsum(weights / weights.sum())
    ranks = np.minimum(np.searchsorted(cdf, rng.random(n)), cardinality - 1)
    return rng.permutation(cardinality)[ranks]  # frequent values get arbitrary ids


def generate(cfg) -> dict[str, pl.DataFrame]:
    """Draw train/valid/test frames. `cfg` holds the sizes and the strength of each planted effect."""
    frame, sizes, _ = simulate(cfg)
    out, start = {}, 0
    for split, size in sizes.items():
        out[split] = frame.slice(start, size)
        start += size
    return out


def simulate(cfg) -> tuple[pl.DataFrame, dict[str, int], dict[str, np.ndarray]]:
    """All rows in one frame, the split sizes, and the logit's parts (for checking difficulty)."""
    cards = [int(c) for c in cfg.cardinalities]
    if len(cards) < 3 or min(cards) < 2:
        raise ConfigError(
            "dataset.synthetic.cardinalities: expected at least 3 fields of 2 or more values each"
        )
    rng = np.random.default_rng(int(cfg.seed))
    sizes = {"train": int(cfg.train_rows), "valid": int(cfg.valid_rows), "test": int(cfg.test_rows)}
    if min(sizes.values()) < 1:
        raise ConfigError("dataset.synthetic: train_rows, valid_rows and test_rows must be positive")
    n = sum(sizes.values())
    num_fields, rank = len(cards), int(cfg.rank)

    ids = [_zipf_sample(rng, c, float(cfg.zipf_exponent), n) for c in cards]
    latent = [rng.standard_normal((c, rank)) for c in cards]
    first_order = [rng.standard_normal(c) * float(cfg.first_order_scale) for c in cards]

    logit = np.full(n, float(cfg.bias))
    for f in range(num_fields):
        logit += first_order[f][ids[f]]
    parts = {"first_order": logit.copy()}
    # interactions act among the fields with enough rows per value to be learnable
    small = [f for f in range(num_fields) if cards[f] <= int(cfg.interaction_max_cardinality)]
    if len(small) < 3:
        raise ConfigError(
            "dataset.synthetic.interaction_max_cardinality: fewer than 3 fields have that few values"
        )
    # every pair of these fields interacts through one latent vector per value: FM's own form
    vectors = np.stack([latent[f][ids[f]] for f in small], axis=1)  # [n, |small|, rank]
    total = vectors.sum(axis=1)
    pair_term = 0.5 * ((total**2).sum(axis=1) - (vectors**2).sum(axis=(1, 2))) / np.sqrt(rank)
    num_pairs = len(small) * (len(small) - 1) // 2
    logit += float(cfg.pair_scale) * pair_term / np.sqrt(num_pairs)
    parts["pairs"] = float(cfg.pair_scale) * pair_term / np.sqrt(num_pairs)
    # three-way effects among the smallest fields: learnable by deep models, invisible to FM
    smallest = [f for f in range(num_fields) if cards[f] <= int(cfg.triple_max_cardinality)]
    if len(smallest) < 3:
        raise ConfigError(
            "dataset.synthetic.triple_max_cardinality: fewer than 3 fields have that few values"
        )
    triple_term = np.zeros(n)
    for _ in range(int(cfg.num_triples)):
        i, j, k = rng.choice(smallest, size=3, replace=False)
        prod = latent[i][ids[i]] * latent[j][ids[j]] * latent[k][ids[k]]
        triple_term += prod.sum(axis=1) / np.sqrt(rank)
    parts["triples"] = float(cfg.triple_scale) * triple_term / np.sqrt(max(int(cfg.num_triples), 1))
    logit += parts["triples"]

    # a numeric field (log-normal, like a count) and a multi-valued tag field
    amount = np.exp(rng.standard_normal(n) * 0.8 + 1.0)
    logit += float(cfg.numeric_scale) * (np.log(amount) - 1.0)
    tag_vocab = int(cfg.tag_vocabulary)
    tag_weight = rng.standard_normal(tag_vocab) * float(cfg.tag_scale)
    tag_count = rng.integers(1, 4, size=n)
    tags = rng.integers(0, tag_vocab, size=(n, 3))
    tag_mask = np.arange(3)[None, :] < tag_count[:, None]
    logit += (tag_weight[tags] * tag_mask).sum(axis=1) / tag_count

    parts["noiseless"] = logit.copy()
    logit += rng.standard_normal(n) * float(cfg.noise)
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)

    tag_text = np.array([f"t{t}" for t in range(tag_vocab)])[tags]
    tag_frame = pl.DataFrame(
        {**{f"t{k}": tag_text[:, k] for k in range(3)}, **{f"m{k}": tag_mask[:, k] for k in range(3)}}
    )
    kept = [pl.when(pl.col(f"m{k}")).then(pl.col(f"t{k}")) for k in range(3)]
    tag_strings = tag_frame.select(pl.concat_str(kept, separator="^", ignore_nulls=True).alias("tags"))[
        "tags"
    ]
    columns = {"label": label}
    for f in range(num_fields):
        columns[f"C{f + 1}"] = ids[f].astype(np.int64)
    columns["amount"] = amount.astype(np.float64)
    columns["tags"] = tag_strings
    return pl.DataFrame(columns), sizes, parts
