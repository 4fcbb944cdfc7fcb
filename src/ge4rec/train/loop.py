"""The training loop: Adam, L2, clipping, lr reduction on plateau, early stopping, best checkpoint."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ge4rec.config import TrainerConfig, typed
from ge4rec.data.batches import SplitTensors
from ge4rec.errors import ConfigError, TrainingFailed
from ge4rec.io import save_torch
from ge4rec.models.base import CTRModel
from ge4rec.train.device import device_batches, full_shuffle_warning, place_splits, shuffle_generator
from ge4rec.train.interrupt import StopSignal
from ge4rec.train.metrics import evaluate_scores
from ge4rec.train.state import restore_rng, rng_state, save_state


def regularized_parameters(model: torch.nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The parameters the two L2 regularisers cover, with the reference code's semantics: every
    module's own parameters named `weight` or `bias`, split into those of nn.Embedding tables
    (whole tables, the first-order columns included) and all others (the generators included).
    Parameters with other names (e.g. FmFM's pair matrices) are not regularised."""
    embedding: list[torch.Tensor] = []
    net: list[torch.Tensor] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if name not in ("weight", "bias") or not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            (embedding if isinstance(module, torch.nn.Embedding) else net).append(param)
    return embedding, net


def l2_term(params: list[torch.Tensor], strength: float) -> torch.Tensor | None:
    """(strength / 2) * sum of squared entries of `params`; None when there is nothing to add."""
    if strength <= 0 or not params:
        return None
    return 0.5 * strength * torch.stack([p.square().sum() for p in params]).sum()


@dataclass
class TrainResult:
    best_epoch: int
    epochs: int
    train_seconds: float
    samples_per_second: float
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""
    # how the forward pass ran (trainer.precision, trainer.compile) and, per split, whether it
    # lived on the training device (trainer.data_on_device)
    precision: str = "fp32"
    compiled: bool = False
    splits_on_device: dict[str, bool] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device: '{name}' (expected auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device: '{name}' requested but no CUDA device is available (use device=auto or cpu)"
        )
    return device


def monitor_value(metrics: dict[str, float], monitor: str) -> float:
    """A number where larger is better."""
    if monitor == "auc":
        return metrics["auc"]
    if monitor == "logloss":
        return -metrics["logloss"]
    return metrics["auc"] - metrics["logloss"]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context of a forward pass in `precision`: fp32 runs as written, bf16 under torch's
    bfloat16 autocast (matrix products in bfloat16, reductions and the weights in float32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict(
    model: CTRModel, split: SplitTensors, batch_size: int, device: torch.device, precision: str = "fp32"
) -> torch.Tensor:
    """Click probabilities (float32, on the CPU) of every row of `split`, in order."""
    model.eval()
    outs = []
    for batch in device_batches(split.batches(batch_size), device):
        with autocast(device, precision):
            logits = model(batch)
        outs.append(torch.sigmoid(logits.float()).cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


def evaluate(
    model: CTRModel,
    split: SplitTensors,
    batch_size: int,
    device: torch.device,
    where: str = "evaluation split",
    precision: str = "fp32",
) -> dict[str, float]:
    """AUC and LogLoss of the model on a split. Scores that are not finite, or a split with one
    class (AUC undefined), raise TrainingFailed naming `where`: no metric is a NaN."""
    scores = predict(model, split, batch_size, device, precision)
    bad = int((~torch.isfinite(scores)).sum().item())
    if bad:
        raise TrainingFailed(
            f"the model's scores on the {where} are not finite ({bad:,} of {len(scores):,} NaN or inf; "
            "try a lower trainer.lr or trainer.grad_clip_norm)"
        )
    rows, positives = len(split.label), int(split.label.sum().item())
    if positives in (0, rows):
        raise TrainingFailed(
            f"the {where} has one class only ({rows:,} rows, all label {int(positives == rows)}): "
            "AUC is undefined"
        )
    return evaluate_scores(split.label, scores)


class Trainer:
    def __init__(self, cfg, device: torch.device, seed: int, console: Console | None = None):
        # the trainer block typed and checked (ge4rec.config.schema.TrainerConfig)
        self.cfg, self.device, self.seed = typed(TrainerConfig, cfg, "trainer"), device, seed
        self.console = console or Console(stderr=True)
        self.monitor = self.cfg.monitor
        self._regularized: tuple | None = None

    def regularization(self, model: CTRModel) -> torch.Tensor | None:
        """trainer.embedding_regularizer and trainer.net_regularizer: (lambda/2)*||W||^2 terms."""
        if self._regularized is None or self._regularized[0] is not model:
            self._regularized = (model, *regularized_parameters(model))
        _, embedding, net = self._regularized
        terms = [
            term
            for term in (
                l2_term(embedding, self.cfg.embedding_regularizer),
                l2_term(net, self.cfg.net_regularizer),
            )
            if term is not None
        ]
        return cast(torch.Tensor, sum(terms)) if terms else None  # a sum of tensors

    def train_step(
        self,
        model: CTRModel,
        batch,
        optimizer: torch.optim.Optimizer,
        params: list,
        forward: Callable | None = None,
    ) -> torch.Tensor:
        """One optimisation step on one batch; returns the (detached) loss, L2 terms included.
        `forward` (default: the model) computes the logits, e.g. the model compiled by
        `compiled`; the forward pass runs in trainer.precision, the loss in float32."""
        with autocast(self.device, self.cfg.precision):
            logits = (model if forward is None else forward)(batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), batch.label)
        penalty = self.regularization(model)
        if penalty is not None:
            loss = loss + penalty
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg.grad_clip_norm or 0.0
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        return loss.detach()

    def shuffle_options(self) -> dict[str, int]:
        """The keyword arguments of SplitTensors.batches that trainer.shuffle asks for (none: full)."""
        if self.cfg.shuffle == "blocks":
            return {"block_rows": self.cfg.shuffle_block_rows, "window": self.cfg.shuffle_window}
        return {}

    def optimizer(self, model: CTRModel) -> torch.optim.Optimizer:
        kernel = self.cfg.optimizer_kernel  # fused | foreach | loop (torch's per-tensor update)
        fused = True if kernel == "fused" else None
        foreach = None if kernel == "fused" else kernel == "foreach"
        return torch.optim.Adam(model.parameters(), lr=self.cfg.lr, fused=fused, foreach=foreach)

    def compiled(self, model: CTRModel) -> Callable:
        """The forward pass training calls: with trainer.compile, torch.compile of the model (it
        shares the model's parameters, so the optimizer, the checkpoints and the state see the
        plain module); otherwise the model itself. Shapes are static: a full batch and the last,
        shorter one compile once each."""
        if not self.cfg.compile:
            return model
        return cast(Callable, torch.compile(model, dynamic=False))

    def announce(self) -> None:
        """One line where a setting does not do on this device what it is meant for."""
        if self.cfg.precision == "bf16" and self.device.type != "cuda":
            self.console.print(
                f"trainer.precision=bf16 on {self.device.type}: bfloat16 autocast is meant for GPUs "
                "(on a CPU it is usually slower than fp32)"
            )

    def fit(
        self,
        model: CTRModel,
        splits: dict[str, SplitTensors],
        checkpoint: Path | None = None,
        epoch_callback: Callable[[CTRModel], dict[str, Any]] | None = None,
        *,
        state_file: Path | None = None,
        resume: dict[str, Any] | None = None,
        stop: StopSignal | None = None,
        run_facts: dict[str, Any] | None = None,
    ) -> TrainResult:
        """`epoch_callback(model)`, when given, runs after each epoch's evaluation; what it returns
        joins that epoch's history record (e.g. trainer.track_collapse's information abundance).

        `state_file`: where the resumable state (ge4rec.train.state) is written, before the first
        epoch and after every epoch, with `run_facts` (what the caller needs to know about the run
        when it resumes). `resume`: a state loaded from such a file; training continues after its
        epoch and ends as an uninterrupted run would have. `stop`: polled after every batch and
        every epoch; a requested stop raises RunInterrupted with the last finished epoch."""
        cfg, device = self.cfg, self.device
        model.to(device)
        self.announce()
        placement = place_splits(splits, device, cfg.data_on_device)
        splits = placement.splits
        train = splits["train"]
        if device.type == "cuda" and cfg.progress:
            self.console.print(f"data: {placement.describe()}")
        optimizer = self.optimizer(model)
        forward = self.compiled(model)
        precision = cfg.precision
        generator = shuffle_generator(device, self.seed)
        batch_size, eval_batch = cfg.batch_size, cfg.eval_batch_size
        blocks = self.shuffle_options()
        if not blocks:
            warning = full_shuffle_warning(train)
            if warning:
                self.console.print(warning, markup=False, highlight=False)
        patience, lr_patience = cfg.patience, cfg.lr_patience
        factor, min_lr = cfg.lr_factor, cfg.min_lr
        max_epochs = cfg.max_epochs
        best_score, best_epoch, best_state = -math.inf, 0, None
        bad_epochs = 0
        history: list[dict[str, Any]] = []
        train_seconds, rows_seen, stopped = 0.0, 0, "max_epochs"
        done, finished = 0, False  # epochs finished; the loop has ended (nothing left but testing)
        if resume is not None:
            model.load_state_dict(resume["model"])
            optimizer.load_state_dict(resume["optimizer"])
            best_score, best_epoch, bad_epochs = (
                float(resume["best_score"]),
                int(resume["best_epoch"]),
                int(resume["bad_epochs"]),
            )
            best_state = resume["best_state"]
            history = list(resume["history"])
            train_seconds, rows_seen = float(resume["train_seconds"]), int(resume["rows_seen"])
            done, finished, stopped = int(resume["epoch"]), bool(resume["finished"]), str(resume["stopped"])
            restore_rng(resume["rng"], generator)
            if best_state is not None and checkpoint is not None:  # the checkpoint matches the state
                save_torch(checkpoint, best_state)

        def save() -> None:
            if state_file is None:
                return
            weights = model.state_dict()
            save_state(
                state_file,
                {
                    "epoch": done,
                    "finished": finished,
                    "stopped": stopped,
                    "model": weights,
                    "optimizer": optimizer.state_dict(),
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    # after an improving epoch the best weights are the model's: passing the same
                    # tensors lets torch.save store them once (they load as one shared copy)
                    "best_state": weights if best_epoch == done and best_state is not None else best_state,
                    "bad_epochs": bad_epochs,
                    "history": history,
                    "train_seconds": train_seconds,
                    "rows_seen": rows_seen,
                    "rng": rng_state(generator),
                    "device": device.type,
                    "run": dict(run_facts or {}),
                },
            )

        if resume is None:
            save()
        if stop is not None:
            stop.epoch = done
        params = [p for p in model.parameters() if p.requires_grad]
        show = cfg.progress
        steps = train.num_batches(batch_size)
        with Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not show,
        ) as progress:
            for epoch in range(done + 1, max_epochs + 1):
                if finished:
                    break
                model.train()
                task = progress.add_task("train", total=steps, epoch=epoch, loss="-")
                start = time.perf_counter()
                total_loss = torch.zeros((), device=device)
                epoch_batches = train.batches(batch_size, shuffle=True, generator=generator, **blocks)
                for step, batch in enumerate(device_batches(epoch_batches, device), 1):
                    loss = self.train_step(model, batch, optimizer, params, forward)
                    total_loss += loss
                    if stop is not None and stop.signum is not None:  # a flag read per batch
                        stop.check(done)
                    if step % 10 == 0 or step == steps:
                        current = loss.item()
                        if not math.isfinite(current):
                            raise TrainingFailed(
                                f"loss became {current} at epoch {epoch}, step {step} "
                                "(try a lower trainer.lr, trainer.grad_clip_norm or paradigm.gamma)"
                            )
                        progress.update(task, completed=step, loss=f"{current:.4f}")
                rows_seen += len(train)
                train_seconds += time.perf_counter() - start
                epoch_loss = total_loss.item() / steps
                if not math.isfinite(epoch_loss):
                    raise TrainingFailed(
                        f"loss became {epoch_loss} in epoch {epoch} (try a lower trainer.lr)"
                    )
                progress.remove_task(task)
                valid = evaluate(
                    model, splits["valid"], eval_batch, device, f"valid split after epoch {epoch}", precision
                )
                score = monitor_value(valid, self.monitor)
                lr_now = optimizer.param_groups[0]["lr"]
                improved = score > best_score
                record = {
                    "epoch": epoch,
                    "train_loss": epoch_loss,
                    "valid_auc": valid["auc"],
                    "valid_logloss": valid["logloss"],
                    "lr": lr_now,
                }
                if epoch_callback is not None:
                    record.update(epoch_callback(model))
                history.append(record)
                if improved:
                    best_score, best_epoch, bad_epochs = score, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                    if checkpoint is not None:
                        save_torch(checkpoint, best_state)
                else:
                    bad_epochs += 1
                if show:
                    mark = "[green]*[/green]" if improved else " "
                    self.console.print(
                        f"epoch {epoch:3d}  loss {epoch_loss:.4f}  valid auc {valid['auc']:.4f}  "
                        f"logloss {valid['logloss']:.4f}  lr {lr_now:.0e} {mark}"
                    )
                if bad_epochs >= patience:
                    stopped, finished = "early_stopping", True
                elif bad_epochs and bad_epochs % lr_patience == 0:
                    for group in optimizer.param_groups:
                        group["lr"] = max(group["lr"] * factor, min_lr)
                done, finished = epoch, finished or epoch == max_epochs
                save()
                if stop is not None:
                    stop.epoch = done
                    stop.check(done)
        if best_state is not None:
            model.load_state_dict(best_state)
        # the best state was scored on valid in the epoch that reached it (the same weights, batches
        # and code): its history record holds those metrics, so valid is not scored again
        best = [r for r in history if r["epoch"] == best_epoch]
        if best_state is not None and best:
            valid = {"auc": best[0]["valid_auc"], "logloss": best[0]["valid_logloss"]}
        else:
            valid = evaluate(model, splits["valid"], eval_batch, device, "valid split", precision)
        test = evaluate(model, splits["test"], eval_batch, device, "test split", precision)
        return TrainResult(
            best_epoch=best_epoch,
            epochs=len(history),
            train_seconds=train_seconds,
            samples_per_second=rows_seen / train_seconds if train_seconds > 0 else 0.0,
            valid=valid,
            test=test,
            history=history,
            stopped=stopped,
            precision=precision,
            compiled=bool(cfg.compile),
            splits_on_device=dict(placement.on_device),
        )
