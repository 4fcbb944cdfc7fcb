"""The train config, block by block, as dataclasses: each field's type, default and meaning.

Hydra composes configs/train.yaml on top of these (they are registered in its ConfigStore, see
ge4rec.config.store), so a value of the wrong type or a key no block has fails while composing.
The value rules (`integer`, `number`, `one_of`, ...) and each block's `check` are enforced by
ge4rec.config.checks. The YAML files hold only what differs from the defaults here.
"""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from ge4rec.config.rules import Rule, integer, integers, number, one_of, option
from ge4rec.errors import ConfigError

MONITORS = ("auc", "logloss", "auc-logloss")
SHUFFLES = ("full", "blocks")
PAIRS = ("i<j", "all")
CROSS_SOURCES = ("xl", "x0")
TARGETS = ("all", "high_cardinality", "low_cardinality", "random")
DATASET_KINDS = ("files", "synthetic")
FILE_FORMATS = ("auto", "csv", "parquet")
PRECISIONS = ("fp32", "bf16")
OPTIMIZER_KERNELS = ("fused", "foreach", "loop")
DATA_PLACEMENTS = ("auto", "true", "false")


def registry_names(module: str, name: str):
    """The names of a registry, read when a value is checked (the registries import torch)."""

    def read() -> list[str]:
        import importlib

        return list(getattr(importlib.import_module(module), name))

    return read


PARADIGM_NAMES = registry_names("ge4rec.paradigms.base", "PARADIGMS")
GENERATOR_KINDS = registry_names("ge4rec.paradigms.generators", "GENERATORS")
GENERATOR_ACTIVATIONS = registry_names("ge4rec.paradigms.generators", "ACTIVATIONS")
SPLITS = registry_names("ge4rec.analysis.run_analysis", "SPLITS")
MISSING_MODES = registry_names("ge4rec.data.spec", "MISSING_MODES")
NUMERIC_MODES = registry_names("ge4rec.data.spec", "NUMERIC_MODES")


# ------------------------------------------------------------------------------------- trainer


@dataclass
class TrainerConfig:
    """`trainer`: the training protocol of the SFG reference experiments (Adam, L2 as FuxiCTR
    adds it, gradient clipping, lr x lr_factor on a plateau, early stopping on a validation metric)."""

    name: str = "default"
    lr: float = number(1.0e-3, low=0, low_open=True)
    batch_size: int = integer(4096)
    eval_batch_size: int = integer(16384)
    max_epochs: int = integer(100)
    # L2 as the reference code (FuxiCTR's regularization_loss) adds it to the mean BCE at every
    # step: (lambda/2)*||W||^2 over the whole weight of every embedding table (the first-order
    # one included) ...
    embedding_regularizer: float = number(0.0, low=0)
    # ... and (lambda/2)*||P||^2 over every other module's `weight` and `bias` (the SFG generator included)
    net_regularizer: float = number(0.0, low=0)
    # the largest gradient norm; 0 or null: no clipping
    grad_clip_norm: float | None = number(10.0, low=0)
    # the validation metric early stopping and the lr schedule follow: auc | logloss | auc-logloss
    monitor: str = one_of("auc", MONITORS)
    # stop after this many evaluations without improvement
    patience: int = integer(2)
    # multiply lr by lr_factor after this many evaluations without improvement ...
    lr_patience: int = integer(1)
    lr_factor: float = number(0.1, low=0, high=1, low_open=True)
    # ... but never below min_lr
    min_lr: float = number(1.0e-6, low=0)
    # how each epoch shuffles the training rows: full (one permutation of the whole split, a copy
    # of it in memory) | blocks (blocks of shuffle_block_rows consecutive rows in a random order,
    # shuffle_window blocks mixed at a time: memory holds one window, for splits larger than RAM)
    shuffle: str = one_of("full", SHUFFLES)
    shuffle_block_rows: int = integer(65536)
    shuffle_window: int = integer(16)
    # a live progress bar and a line per epoch
    progress: bool = True
    # information abundance of the embeddings after every epoch (the history in metrics.json)
    track_collapse: bool = False
    # the forward pass of training and prediction: fp32 | bf16 (autocast to bfloat16; the loss,
    # the metrics and the weights stay float32). bf16 is meant for GPUs; the CPU runs it too
    precision: str = one_of("fp32", PRECISIONS)
    # how Adam updates the weights: fused (one kernel over each tensor: FM steps 2.3x faster than
    # loop with a 19.5M-weight embedding table, scripts/bench_optimizer.py) | foreach (batched over
    # tensors; the same bits as loop) | loop (torch's plain per-tensor update). All three compute
    # Adam; fused rounds differently in the last bit of some weights, so its runs differ slightly
    optimizer_kernel: str = one_of("fused", OPTIMIZER_KERNELS)
    # torch.compile the model's forward pass for training (prediction and the saved weights use
    # the plain model)
    compile: bool = False
    # on a CUDA device: auto (move each split to the GPU once when it fits in half its free
    # memory, else copy batches from pinned host memory) | true (always move) | false (never).
    # On the CPU the data stays where it is. Does not change the results.
    data_on_device: str = one_of("auto", DATA_PLACEMENTS, ignore_case=True)


# ------------------------------------------------------------------------------------ paradigm


@dataclass
class ParadigmConfig:
    """`paradigm`: what feeds the generated side of every interaction. Every paradigm carries
    every key (the discriminative one ignores SFG's), so a sweep like
    `paradigm=disc,sfg paradigm.gamma=6` composes. The defaults are SFG as the paper runs it."""

    # the paradigm: disc (the generator is the identity, Z = V) | sfg
    name: str = one_of(MISSING, PARADIGM_NAMES)
    # dense (All-Predict-All) | field_shared | own_field | mlp2 | attention | exclude_self | identity
    generator: str = one_of("dense", GENERATOR_KINDS)
    # relu | identity | sigmoid | tanh | silu (also: linear = identity, gelu)
    activation: str = one_of("relu", GENERATOR_ACTIVATIONS, ignore_case=True)
    # fixed scale of the generated embeddings: Z = gamma * act(W v)
    gamma: float = number(1.0)
    # a bias in the generator
    bias: bool = False
    # Z = gamma*act(W v) + v; null: the model's default (on for cross networks)
    residual: bool | None = None
    # the pair sum runs over i<j, or over `all` ordered pairs (i = j included)
    pairs: str = one_of("i<j", PAIRS)
    # cross networks: the generator reads x_l (the reference code) or x0
    source: str = one_of("xl", CROSS_SOURCES)
    # cross networks: dropout on each cross layer's output (the reference's Criteo SFG runs: 0.1)
    cross_dropout: float = number(0.0, low=0, high=1, high_open=True)
    # pair z_i with z_j instead of z_i with e_j
    symmetric: bool = False
    # multi-layer models: one generator for all layers instead of one per layer
    share_generator: bool = False
    # fields that get generated embeddings: all | high_cardinality | low_cardinality | random
    targets: str = one_of("all", TARGETS)
    # with targets != all: k fields (a whole number >= 1) or a fraction of the fields in (0, 1)
    num_targets: float | None = None
    # targets=random: the seed that draws the k fields
    target_seed: int = 0

    @staticmethod
    def check(node, where: str) -> None:
        count = node.num_targets
        good = "a number of fields k >= 1, or a fraction in (0, 1)"
        if count is None:
            if node.targets != "all":
                raise ConfigError(
                    f"{where}.num_targets: required with {where}.targets={node.targets} ({good})"
                )
        elif not (0 < count < 1 or (count >= 1 and float(count).is_integer())):
            raise ConfigError(f"{where}.num_targets: {count:g} (expected {good})")


# -------------------------------------------------------------------------------- analysis


@dataclass
class AnalysisConfig:
    """`analysis`: after training, dimensional collapse and redundancy of the embeddings (best
    checkpoint, eval mode) on held-out rows, written to RUN_DIR/analysis/ and metrics.json;
    `ge4rec analyze` redoes it."""

    enabled: bool = True
    # the split the rows come from: valid | test | train
    split: str = one_of("valid", SPLITS)
    # rows sampled with the run's seed; 0 (or more than the split has): all of it
    rows: int | None = integer(50000, minimum=0)


# --------------------------------------------------------------------------------- data sets


def _split_ratios() -> Rule:
    return Rule(
        lambda v: len(v) == 3 and min(v) >= 0 and sum(v) > 0, "three numbers >= 0 with a positive sum"
    )


@dataclass
class DatasetListing:
    """`dataset.listing`: what `ge4rec list` shows of a data set."""

    # rows per split {train, valid, test}, or {total} for one file split by ratio
    rows: dict[str, int] = option({})
    # fields as the model sees them
    fields: int | None = None
    # where the data comes from
    source: str = ""


@dataclass
class DownloadSource:
    """`dataset.download`: the public archive `ge4rec data download NAME` fetches."""

    url: str = MISSING
    # the archive's sha256 (null where none is published: the size is checked and the sha256 shown)
    sha256: str | None = None
    # the archive's size in bytes
    size: int | None = None
    # zip | tar | tar.gz
    format: str = "zip"
    # the folder it unpacks to (the last part of the preset's `path`)
    folder: str = MISSING


@dataclass
class DatasetConfig:
    """`dataset`: the keys every data set has (configs/dataset/_base.yaml). A data set names its
    sources and fields; anything left null is inferred."""

    name: str = MISSING
    description: str = ""
    # files | synthetic
    kind: str = one_of("files", DATASET_KINDS)
    # the folder holding the train/valid/test files (BARS layout)
    path: str | None = None
    # auto (by extension) | csv | parquet
    format: str = one_of("auto", FILE_FORMATS)
    # file names in `path`, extension optional
    train: str = "train"
    valid: str = "valid"
    test: str = "test"
    # or: one file, split by split_ratios with split_seed
    file: str | None = None
    split_ratios: list[float] = option([0.8, 0.1, 0.1], _split_ratios())
    split_seed: int = 2026
    # .csv, .txt and .tsv files are read as CSV with this delimiter ("\t" or tab: a tab)
    csv_delimiter: str = ","
    # false: the files have no header row; name their columns in `columns`
    header: bool = True
    # column names, in file order, of a file without a header row (with one: new names)
    columns: list[str] | None = None
    # null: the column named 'label' or 'click'
    label: str | None = None
    # a column whose values contain it is multi-valued
    separator: str = "^"
    # null: every other column; or a list of names / {name, type, min_count, ...}
    fields: list[Any] | None = None
    # per-field options by name, e.g. +dataset.field_options.age.type=numeric
    field_options: dict[str, Any] = option({})
    # columns to leave out when fields are inferred
    exclude: list[str] = option([])
    # columns computed from the source columns before fitting, identically in every split, e.g.
    # [{name: weekday, from: hour, op: weekday_yymmddhh}]; `name` may replace `from` in place
    # (every entry reads the columns as read from the files). ops: hour_yymmddhh (0..23),
    # weekday_yymmddhh (0 = Sunday .. 6 = Saturday), weekend_yymmddhh (1 on Saturday/Sunday) of
    # a YYMMDDHH timestamp; log_square_bucket (a number as a category: floor(ln(v)^2) if v > 2,
    # else its integer part; empty counts as 0), country_isrc (first two characters of an ISRC),
    # age_group (years in 7 groups)
    derive: list[Any] = option([])
    # values seen fewer times in train map to the OOV id
    min_count: int = integer(1)
    # categorical missing values: their own id (token) or the OOV id (oov)
    missing: str = one_of("token", MISSING_MODES)
    # numeric fields: normalize (z-score on train) | bucketize | none
    numeric: str = one_of("normalize", NUMERIC_MODES)
    # empty values of numeric fields (normalize | none) in any split: error (stop, naming file,
    # column and rows) | mean (the train mean) | zero; a field's own `missing` (mean, zero or a
    # number) wins. Filled values are logged and listed under `decisions` in metrics.json.
    # Bucketized fields give empty values their own id.
    numeric_missing: str = one_of("error", ("error", "mean", "zero"))
    # bucketize: equal-frequency buckets fitted on train
    num_buckets: int = integer(10)
    # multi-valued fields: padded length (null: the longest in train, at most 64)
    max_len: int | None = integer(None)
    # the recommended embedding size for this data set
    embedding_dim: int = integer(16)
    # how the cache recognises changed source files: content (a checksum of every byte, read on
    # every run) | mtime (re-read only files whose size or modification time changed; faster for
    # large files, but an edit that keeps both is not seen)
    fingerprint: str = one_of("content", ("content", "mtime"))
    # what `ge4rec list` shows (not part of the cache key or the config hash): rows {train, valid,
    # test} (or {total} for one file split by ratio), fields (as the model sees them) and source
    listing: DatasetListing = field(default_factory=lambda: DatasetListing())
    # where `ge4rec data download NAME` fetches the data set (not part of the cache key or the
    # config hash)
    download: DownloadSource | None = None


@dataclass
class SyntheticOptions:
    """`dataset.synthetic`: the built-in generator. Clicks come from planted pairwise and
    three-way field interactions, first-order effects, a numeric and a tag field, plus noise."""

    seed: int = 2026
    train_rows: int = integer(200000)
    valid_rows: int = integer(25000)
    test_rows: int = integer(25000)
    # the ID fields' numbers of values (Zipf-like frequencies)
    cardinalities: list[int] = integers(
        [10, 20, 40, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 100000, 15, 60, 300, 3000],
        minimum=2,
        non_empty=True,
    )
    zipf_exponent: float = number(1.3, low=0, low_open=True)
    # latent size of the planted interactions
    rank: int = integer(4)
    # planted three-way interactions (FM cannot learn these)
    num_triples: int = integer(8, minimum=0)
    # pairwise effects only among fields with at most this many values
    interaction_max_cardinality: int = integer(3000)
    # three-way effects only among fields with at most this many values
    triple_max_cardinality: int = integer(100)
    # scale of the pairwise interactions among those fields (FM can learn these)
    pair_scale: float = number(1.2)
    triple_scale: float = number(1.6)
    first_order_scale: float = number(0.3)
    numeric_scale: float = number(0.4)
    tag_vocabulary: int = integer(50)
    tag_scale: float = number(0.5)
    bias: float = number(-0.5)
    # std of Gaussian noise on the logit (higher = harder)
    noise: float = number(0.5, low=0)


@dataclass
class SyntheticDatasetConfig(DatasetConfig):
    """A data set generated from a seed (kind: synthetic) instead of read from files."""

    kind: str = one_of("synthetic", DATASET_KINDS)
    synthetic: SyntheticOptions = field(default_factory=SyntheticOptions)


# ------------------------------------------------------------------------------ the whole run


@dataclass
class TrainConfig:
    """`ge4rec train`: one run = dataset x model x paradigm x trainer. Override anything on the
    command line, e.g. `ge4rec train model=dcnv2 paradigm=disc seed=7 trainer.max_epochs=3`."""

    # the blocks chosen by the config groups (their schemas: the dataclasses above and
    # ge4rec.config.models)
    dataset: Any = MISSING
    model: Any = MISSING
    paradigm: Any = MISSING
    trainer: Any = MISSING
    seed: int = 2026
    # the embedding size d of every field; by default the data set's recommended size
    embedding_dim: int = integer("${dataset.embedding_dim}")
    # auto: CUDA when available, else CPU; or cpu, cuda, cuda:N
    device: str = "auto"
    # CPU threads for torch (null or 0: torch's default)
    threads: int | None = integer(None, minimum=0)
    # the results store: one Parquet file per finished run
    results_dir: str = "results"
    # encoded data sets are cached here, keyed by the data set config and source file contents
    cache_dir: str = '${oc.env:GE4REC_CACHE_DIR,"~/.cache/ge4rec"}'
    # skip the run when the results store already has a completed run of this exact config and
    # seed (config_hash), so re-running an interrupted sweep trains only what is missing
    skip_done: bool = False
    # continue an interrupted run from RUN_DIR/state.pt (its last finished epoch): resume=RUN_DIR,
    # or resume=true with hydra.run.dir=RUN_DIR; the run keeps the config saved in
    # RUN_DIR/config.yaml (null, true, false or a folder: checked on the command line)
    resume: Any = None
    # keep the best checkpoint in the run folder
    save_checkpoint: bool = True
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    @staticmethod
    def check(node, where: str) -> None:
        """The checks that read more than one block, or torch: the paradigm against the model,
        and the device."""
        from ge4rec.models import get_model_class
        from ge4rec.paradigms import PARADIGMS
        from ge4rec.train.loop import resolve_device

        model = get_model_class(node.model.name)
        if PARADIGMS[node.paradigm.name].generative and not model.has_interaction:
            raise ConfigError(
                f"model '{model.name}' has no feature interaction for SFG to generate for (use paradigm=disc)"
            )
        resolve_device(node.device)


# ---------------------------------------------------------------------- experiment=equal_budget


@dataclass
class KnobGrid:
    """One paradigm's value of each knob per trial (indexed by equal_budget.trial)."""

    gamma: list[float] = option([1.0, 1.0, 1.0])
    embedding_regularizer: list[float] = option([0.0, 0.0, 0.0])


@dataclass
class EqualBudget:
    """`equal_budget` (experiment=equal_budget): the trial index and each paradigm's grid of its
    own knob; the experiment reads paradigm.gamma and trainer.embedding_regularizer from the
    paradigm's lists at the trial's index."""

    trial: int = integer(0, minimum=0)
    # SFG tunes gamma: the values the SFG authors settled on for most models and data sets
    # (Criteo_x1: 0.01 xDeepFM/DCNv2/CrossNet, 0.1 FM/DeepFM; Avazu_x4 and Criteo FmFM/FwFM: 6),
    # without embedding L2, as in the paper's SFG runs
    sfg: KnobGrid = field(default_factory=lambda: KnobGrid(gamma=[0.01, 0.1, 6.0]))
    # DIS tunes the embedding L2: the BARS-tuned values of these models (0 on Avazu_x4's deep
    # models, 1e-6 to 5e-6 for the FM family, 1e-5 on Criteo_x1's deep models); its gamma is
    # inert (the generator is the identity)
    disc: KnobGrid = field(default_factory=lambda: KnobGrid(embedding_regularizer=[0.0, 1.0e-6, 1.0e-5]))

    @staticmethod
    def check(node, where: str) -> None:
        for paradigm in ("sfg", "disc"):
            for knob in ("gamma", "embedding_regularizer"):
                size = len(node[paradigm][knob])
                if node.trial >= size:
                    raise ConfigError(
                        f"{where}.trial: {node.trial} (expected an index into "
                        f"{where}.{paradigm}.{knob}, which has {size} values)"
                    )


@dataclass
class EqualBudgetTrainConfig(TrainConfig):
    """The train config with experiment=equal_budget's own block."""

    equal_budget: EqualBudget = field(default_factory=EqualBudget)
