"""A run's resumable state, RUN_DIR/state.pt: everything the training loop needs to continue after
its last finished epoch exactly as if it had never stopped.

It holds the model and the optimizer (with its learning rate), the early-stopping state (best
score, best epoch, the best epoch's weights, epochs without improvement), the history, the
training time so far, and every random stream: torch's CPU and CUDA generators, numpy's, Python's
and the trainer's shuffling generator. The trainer writes it (atomically) before the first epoch
and after every epoch; a run that ends, completed or failed, removes it.

Only plain values and tensors go in, so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ge4rec.errors import Ge4recError
from ge4rec.io import save_torch

STATE_FILE = "state.pt"
STATE_FORMAT = 1
KEYS = (
    "format",
    "epoch",
    "finished",
    "stopped",
    "model",
    "optimizer",
    "best_score",
    "best_epoch",
    "best_state",
    "bad_epochs",
    "history",
    "train_seconds",
    "rows_seen",
    "rng",
    "device",
    "run",
)


def rng_state(generator: torch.Generator | None) -> dict[str, Any]:
    """Every random stream a run draws from, as plain values and tensors."""
    # the global RandomState is an MT19937: its legacy state is the tuple
    name, keys, pos, has_gauss, cached = cast(
        "tuple[str, np.ndarray, int, int, float]", np.random.get_state()
    )
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": [
            str(name),
            torch.from_numpy(keys.astype(np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "python": random.getstate(),
        "generator": generator.get_state() if generator is not None else None,
    }
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator | None) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"])


def save_state(path: Path, state: dict[str, Any]) -> None:
    save_torch(path, {"format": STATE_FORMAT, **state})


def load_state(path: Path) -> dict[str, Any]:
    """The state in `path`; Ge4recError naming the file when it cannot be read or is not one."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, unpicklable content
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Ge4recError(
            f"resume: cannot load '{path}': {detail[:200]} (truncated, or not a ge4rec run state)"
        ) from None
    missing = [k for k in KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise Ge4recError(f"resume: '{path}' is not a ge4rec run state (no {', '.join(missing[:3])})")
    if state["format"] != STATE_FORMAT:
        raise Ge4recError(
            f"resume: '{path}' is a run state of format {state['format']} (this ge4rec reads format {STATE_FORMAT})"
        )
    return state
