"""FuxiCTR for the side-by-side benchmarks: its own virtual environment, and the worker that the
benchmark scripts run inside it.

The environment (`.bench/fuxictr-venv`, ignored by git) is built on first use:

    python -m venv .bench/fuxictr-venv
    .bench/fuxictr-venv/bin/pip install torch==2.13.0        # the pinned CPU build, as ge4rec's
    .bench/fuxictr-venv/bin/pip install fuxictr==2.3.10

Two things FuxiCTR 2.3.10 needs to run here, applied by the worker, not by editing the package:
- polars 2 removed `scan_csv(dtypes=...)` (renamed `schema_overrides`), which FuxiCTR's
  FeatureProcessor.read_data still passes: the worker wraps `polars.scan_csv` to rename it.
- FuxiCTR transforms and loads data through Ray, which writes its session files under the temporary
  folder and state under HOME: the worker's HOME is `.bench/home` and Ray's temporary folder a
  fresh short folder under the system's (a Unix socket path must stay under 108 characters),
  removed afterwards; Ray's usage reporting is off.

The PyPI package ships FuxiCTR's library (feature processing, data loaders, BaseModel with its
training loop, and the layers: FeatureEmbedding, FactorizationMachine, InnerProductInteraction,
MLP_Block, CrossNetV2, CompressedInteractionNet, LogisticRegression) but not its model zoo. The
worker therefore assembles each model from those layers on FuxiCTR's BaseModel the way the model
zoo's FM, FmFM, DCNv2 (crossnet only / parallel), DeepFM, PNN (inner) and xDeepFM are assembled;
FmFM's field-pair matrices are the one piece written here, as FuxiCTR has no layer for them.

Worker commands (run with the environment's python):

    _fuxictr_env.py prepare --train F --valid F --test F --out DIR --dataset-id ID --categorical a,b --numeric x
    _fuxictr_env.py train --data-dir DIR --dataset-id ID --model deepfm --spec JSON --threads 2 --json OUT

This file imports only the standard library at the top, so the benchmark scripts (in ge4rec's
environment) import it for the paths and the environment set-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FUXICTR_VERSION = "2.3.10"
TORCH_VERSION = "2.13.0"
REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / ".bench"
VENV = BENCH_DIR / "fuxictr-venv"
PYTHON = VENV / "bin" / "python"
MODELS = ("fm", "fmfm", "crossnet", "deepfm", "ipnn", "xdeepfm", "dcnv2")


# ------------------------------------------------------------------ the environment (ge4rec side)


def ensure_venv(quiet: bool = False) -> Path:
    """Build the FuxiCTR environment unless a complete one is there; return its python."""
    marker = VENV / ".ready"
    wanted = f"fuxictr=={FUXICTR_VERSION} torch=={TORCH_VERSION}"
    if marker.is_file() and marker.read_text().strip() == wanted and PYTHON.is_file():
        return PYTHON
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    log = BENCH_DIR / "fuxictr-venv-install.log"
    if not quiet:
        print(f"building {VENV} ({wanted}; a few minutes, log in {log}) ...", file=sys.stderr, flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        # torch first and pinned: a plain `pip install fuxictr` would pull an unpinned (CUDA) torch
        [str(PYTHON), "-m", "pip", "install", f"torch=={TORCH_VERSION}"],
        [str(PYTHON), "-m", "pip", "install", f"fuxictr=={FUXICTR_VERSION}", f"torch=={TORCH_VERSION}"],
    ]
    with open(log, "w") as fh:
        for step in steps:
            fh.write("$ " + " ".join(step) + "\n")
            fh.flush()
            if subprocess.run(step, stdout=fh, stderr=subprocess.STDOUT).returncode != 0:
                tail = log.read_text().splitlines()[-15:]
                raise SystemExit(f"building {VENV} failed at: {' '.join(step)}\n" + "\n".join(tail))
    marker.write_text(wanted + "\n")
    return PYTHON


def worker_env(threads: int | None = None) -> tuple[dict[str, str], Path]:
    """The environment for a worker process, and Ray's temporary folder (remove it afterwards)."""
    home = BENCH_DIR / "home"
    home.mkdir(parents=True, exist_ok=True)
    ray_tmp = Path(tempfile.mkdtemp(prefix="fxray-"))
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        RAY_TMPDIR=str(ray_tmp),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
        PYTHONNOUSERSITE="1",
    )
    env.pop("PYTHONPATH", None)
    if threads:
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "POLARS_MAX_THREADS"):
            env[key] = str(threads)
    return env, ray_tmp


def worker_command(*args: str) -> list[str]:
    return [str(PYTHON), str(Path(__file__).resolve()), *args]


def run_worker(args: list[str], threads: int | None = None, timeout: float | None = None) -> str:
    """Run a worker command to completion; its output, or SystemExit with its tail on failure."""
    env, ray_tmp = worker_env(threads)
    try:
        proc = subprocess.run(
            worker_command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    text = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-25:])
        raise SystemExit(f"FuxiCTR worker {' '.join(args[:1])} failed (exit {proc.returncode}):\n{tail}")
    return text


# ------------------------------------------------------------------- the worker (FuxiCTR side)


def _shim_polars() -> None:
    """polars 2: FuxiCTR's read_data passes scan_csv(dtypes=...), now named schema_overrides."""
    import polars as pl

    original = pl.scan_csv
    if getattr(original, "_renames_dtypes", False):
        return

    def scan_csv(*args, dtypes=None, **kwargs):
        if dtypes is not None:
            kwargs.setdefault("schema_overrides", dtypes)
        return original(*args, **kwargs)

    scan_csv._renames_dtypes = True
    pl.scan_csv = scan_csv


def _quiet_logging() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")


def prepare_command(args) -> None:
    """FuxiCTR's preprocessing as its examples run it: FeatureProcessor + build_dataset (fit the
    vocabularies on train, transform train/valid/test to parquet through Ray). Prints one JSON line
    with the stage times measured inside the process."""
    stages: dict[str, float] = {}
    start = time.perf_counter()
    _quiet_logging()
    _shim_polars()
    import importlib

    from fuxictr.preprocess import FeatureProcessor, build_dataset

    # the package exports a function of the same name as the module: take the module itself
    build_module = importlib.import_module("fuxictr.preprocess.build_dataset")

    stages["import"] = time.perf_counter() - start

    original_transform = build_module.transform

    def timed_transform(feature_encoder, ddf, split="train", block_size=0):
        t0 = time.perf_counter()
        result = original_transform(feature_encoder, ddf, split=split, block_size=block_size)
        stages[f"transform+write {split}"] = time.perf_counter() - t0
        return result

    build_module.transform = timed_transform
    original_fit = FeatureProcessor.fit

    def timed_fit(self, *a, **k):
        t0 = time.perf_counter()
        result = original_fit(self, *a, **k)
        stages["fit (read + statistics + vocabularies)"] = time.perf_counter() - t0
        return result

    FeatureProcessor.fit = timed_fit
    columns = []
    if args.categorical:
        columns.append(
            {"name": args.categorical.split(","), "active": True, "dtype": "str", "type": "categorical"}
        )
    if args.numeric:
        columns.append({"name": args.numeric.split(","), "active": True, "dtype": "float", "type": "numeric"})
    processor = FeatureProcessor(
        feature_cols=columns,
        label_col={"name": args.label, "dtype": "float"},
        dataset_id=args.dataset_id,
        data_root=args.out,
    )
    build_dataset(
        processor,
        train_data=args.train,
        valid_data=args.valid,
        test_data=args.test,
        min_categr_count=args.min_count,
        sep=args.sep,
    )
    stages["total in process"] = time.perf_counter() - start
    print("FUXICTR_STAGES " + json.dumps(stages), flush=True)


def _model_classes():
    """FuxiCTR models assembled from the package's layers (see the module docstring)."""
    import torch
    from fuxictr.pytorch.layers import (
        CompressedInteractionNet,
        CrossNetV2,
        FactorizationMachine,
        FeatureEmbedding,
        InnerProductInteraction,
        LogisticRegression,
        MLP_Block,
    )
    from fuxictr.pytorch.models import BaseModel
    from torch import nn

    class Assembled(BaseModel):
        """One BaseModel for the seven benchmark models; `name` picks the parts."""

        def __init__(self, feature_map, name, spec, embedding_dim, learning_rate, **kwargs):
            super().__init__(feature_map, model_id=name, **kwargs)
            self.name = name
            fields = feature_map.num_fields
            flat = fields * embedding_dim
            mlp = dict(
                hidden_units=spec.get("hidden_units", []),
                hidden_activations="ReLU",
                dropout_rates=spec.get("dropout", 0.0),
                batch_norm=spec.get("batch_norm", False),
            )
            self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
            if name in ("fm", "deepfm"):
                self.fm = FactorizationMachine(feature_map)
            if name == "deepfm":
                self.mlp = MLP_Block(input_dim=flat, output_dim=1, output_activation=None, **mlp)
            if name == "fmfm":
                pairs = torch.triu_indices(fields, fields, offset=1)
                self.register_buffer("left", pairs[0], persistent=False)
                self.register_buffer("right", pairs[1], persistent=False)
                self.pair_matrices = nn.Parameter(torch.empty(pairs.shape[1], embedding_dim, embedding_dim))
                nn.init.xavier_normal_(self.pair_matrices)
                self.lr_layer = LogisticRegression(feature_map)
            if name == "ipnn":
                self.products = InnerProductInteraction(fields, output="inner_product")
                self.mlp = MLP_Block(
                    input_dim=flat + fields * (fields - 1) // 2, output_dim=1, output_activation=None, **mlp
                )
            if name == "xdeepfm":
                self.lr_layer = LogisticRegression(feature_map, use_bias=False)
                self.cin = CompressedInteractionNet(fields, spec["cin_layer_units"], output_dim=1)
                self.mlp = (
                    MLP_Block(input_dim=flat, output_dim=1, output_activation=None, **mlp)
                    if mlp["hidden_units"]
                    else None
                )
            if name in ("crossnet", "dcnv2"):
                self.crossnet = CrossNetV2(flat, spec["num_cross_layers"])
                head = flat
                if name == "dcnv2":
                    self.mlp = MLP_Block(input_dim=flat, output_dim=None, output_activation=None, **mlp)
                    head += mlp["hidden_units"][-1]
                self.fc = nn.Linear(head, 1)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            emb = self.embedding_layer(X)  # [B, F, d]
            name = self.name
            if name in ("fm", "deepfm"):
                logit = self.fm(X, emb)
                if name == "deepfm":
                    logit = logit + self.mlp(emb.flatten(start_dim=1))
            elif name == "fmfm":
                left = emb[:, self.left].unsqueeze(2) @ self.pair_matrices  # [B, P, 1, d]
                logit = (left.squeeze(2) * emb[:, self.right]).sum(dim=(1, 2)).unsqueeze(1)
                logit = logit + self.lr_layer(X)
            elif name == "ipnn":
                logit = self.mlp(torch.cat([emb.flatten(start_dim=1), self.products(emb)], dim=1))
            elif name == "xdeepfm":
                logit = self.lr_layer(X) + self.cin(emb)
                if self.mlp is not None:
                    logit = logit + self.mlp(emb.flatten(start_dim=1))
            else:
                x0 = emb.flatten(start_dim=1)
                out = self.crossnet(x0)
                if name == "dcnv2":
                    out = torch.cat([out, self.mlp(x0)], dim=-1)
                logit = self.fc(out)
            return {"y_pred": self.output_activation(logit)}

    return Assembled


def train_command(args) -> None:
    """Train one model for one epoch three ways, each on a freshly built model, and print one JSON
    line of training samples/s:
    - fit: BaseModel.fit(epochs=1) with validation, timed as a whole: data loading (Ray), the
      training steps, the end-of-epoch validation pass, checkpoint save and the reload of the best;
    - loop: BaseModel.train_step over the training data loader (data loading included, no
      validation), after one untimed warm-up step;
    - steps: BaseModel.train_step over batches taken from the loader before the clock starts."""
    import torch

    torch.set_num_threads(args.threads)
    _quiet_logging()
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    from fuxictr.features import FeatureMap
    from fuxictr.pytorch.dataloaders import RankDataLoader
    from fuxictr.pytorch.torch_utils import seed_everything

    spec = json.loads(args.spec)
    data_dir = os.path.join(args.data_dir, args.dataset_id)
    params = {"embedding_dim": args.embedding_dim}
    feature_map = FeatureMap(args.dataset_id, data_dir)
    feature_map.load(os.path.join(data_dir, "feature_map.json"), params)
    Assembled = _model_classes()
    model_root = tempfile.mkdtemp(prefix="fxmodel-")
    os.makedirs(os.path.join(model_root, args.dataset_id))  # BaseModel saves its checkpoint there

    def new_model():
        seed_everything(seed=args.seed)
        return Assembled(
            feature_map,
            args.model,
            spec,
            embedding_dim=args.embedding_dim,
            learning_rate=1e-3,
            optimizer="adam",
            loss="binary_crossentropy",
            metrics=["AUC", "logloss"],
            monitor="AUC",
            model_root=model_root,
            verbose=0,
            early_stop_patience=2,
        )

    def loaders():
        return RankDataLoader(
            feature_map,
            stage="train",
            train_data=os.path.join(data_dir, "train.parquet"),
            valid_data=os.path.join(data_dir, "valid.parquet"),
            batch_size=args.batch_size,
            data_format="parquet",
            shuffle=True,
        )

    try:
        train_gen, valid_gen = loaders()
        rows = train_gen.num_samples
        result = {"rows": rows, "threads": torch.get_num_threads()}

        model = new_model()
        result["parameters"] = sum(p.numel() for p in model.parameters())
        start = time.perf_counter()
        model.fit(train_gen, epochs=1, validation_data=valid_gen, max_gradient_norm=10.0)
        result["fit"] = rows / (time.perf_counter() - start)

        def step_rate(batches_of) -> float:
            """Samples/s of BaseModel.train_step over `epochs` passes through `batches_of()`
            (called once the fresh model is built), after one untimed warm-up step."""
            model = new_model()
            model._max_gradient_norm = 10.0
            model.train()
            batches = batches_of()
            model.train_step(next(iter(batches)))
            seen, start = 0, time.perf_counter()
            for _ in range(args.epochs):
                for batch in batches:
                    loss = model.train_step(batch)
                    seen += len(batch[feature_map.labels[0]])
                loss.item()
            return seen / (time.perf_counter() - start)

        result["loop"] = step_rate(lambda: train_gen)  # the loader's own batching, timed with the steps
        result["steps"] = step_rate(lambda: list(train_gen))  # batches prepared before the clock
    finally:
        shutil.rmtree(model_root, ignore_errors=True)
    print("FUXICTR_RESULT " + json.dumps(result), flush=True)


def parse_tagged(output: str, tag: str) -> dict:
    for line in reversed(output.splitlines()):
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1 :])
    raise SystemExit(
        f"no {tag} line in the FuxiCTR worker's output:\n" + "\n".join(output.splitlines()[-20:])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="FuxiCTR benchmark worker (runs in .bench/fuxictr-venv)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True, help="FuxiCTR data_root")
    p.add_argument("--dataset-id", required=True)
    p.add_argument("--categorical", default="")
    p.add_argument("--numeric", default="")
    p.add_argument("--label", default="label")
    p.add_argument("--sep", default=",")
    p.add_argument("--min-count", type=int, default=1)
    t = sub.add_parser("train")
    t.add_argument("--data-dir", required=True, help="FuxiCTR data_root used by prepare")
    t.add_argument("--dataset-id", required=True)
    t.add_argument("--model", required=True, choices=MODELS)
    t.add_argument("--spec", default="{}", help="model settings as JSON (hidden_units, dropout, ...)")
    t.add_argument("--embedding-dim", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=4096)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    (prepare_command if args.command == "prepare" else train_command)(args)


if __name__ == "__main__":
    main()
