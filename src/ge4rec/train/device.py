"""Where a run's splits live while it trains, and how a batch reaches the model's device.

On a CUDA device a split either moves to the GPU once, whole (batches are then slices of device
memory and cost no transfer), or stays in host memory, and each batch is copied into pinned
memory and sent with a non-blocking copy, the next batch's copy issued before the current one
trains. `trainer.data_on_device` chooses: `auto` moves a split when it fits in a share of the
GPU's free memory, `true` always moves them, `false` never does. On the CPU the splits stay where
they are, whatever the setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch

from ge4rec.data.batches import Batch, SplitTensors

# `auto` moves splits while their bytes stay within this share of the GPU's free memory: the rest
# is left to the model, its optimizer state, activations and the allocator's slack
FREE_MEMORY_SHARE = 0.5
# the order splits are considered in: the training split gains most from living on the device
SPLIT_ORDER = ("train", "valid", "test")
MODES = ("auto", "true", "false")


def free_device_memory(device: torch.device) -> int:
    """Free bytes on a CUDA device, as the driver reports them."""
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def free_host_memory() -> int | None:
    """Bytes of host memory the system can still give (MemAvailable), None where it does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def full_shuffle_warning(train: SplitTensors) -> str | None:
    """trainer.shuffle=full gathers a copy of a host-memory training split every epoch: a line
    saying so when that copy exceeds FREE_MEMORY_SHARE of the free host memory (the run may then
    be killed for memory), None otherwise."""
    free = free_host_memory()
    if train.label.device.type != "cpu" or free is None or train.nbytes <= free * FREE_MEMORY_SHARE:
        return None
    return (
        f"warning: trainer.shuffle=full copies the training split ({train.nbytes / 2**30:.1f} GiB) every "
        f"epoch and {free / 2**30:.1f} GiB of memory is available; trainer.shuffle=blocks shuffles "
        "one window of blocks at a time instead (see README, data larger than memory)"
    )


def on_device(tensor: torch.Tensor, device: torch.device) -> bool:
    """Whether `tensor` lives on `device` (`cuda` without an index: the current CUDA device)."""
    here = tensor.device
    if here.type != device.type:
        return False
    if device.index is None and device.type == "cuda":
        return here.index == torch.cuda.current_device()
    return device.index is None or here.index == device.index


@dataclass
class Placement:
    """What `place_splits` decided: the splits as the trainer uses them and, per split, whether it
    lives on the training device."""

    splits: dict[str, SplitTensors]
    on_device: dict[str, bool]

    def describe(self) -> str:
        moved = [name for name, here in self.on_device.items() if here]
        if len(moved) == len(self.on_device):
            return "every split on the device"
        if not moved:
            return "every split in host memory, batches copied from pinned memory"
        return f"{', '.join(moved)} on the device, the others copied from pinned host memory"


def plan_placement(sizes: dict[str, int], mode: str, free: int) -> dict[str, bool]:
    """Which splits (name -> bytes) move to a CUDA device under `mode`: `true` every one, `false`
    none, `auto` one by one in SPLIT_ORDER while their bytes stay within FREE_MEMORY_SHARE of
    `free`, the device's free bytes (a split that does not fit is skipped, a smaller later one may
    still move)."""
    mode = str(mode).lower()
    if mode not in MODES:
        raise ValueError(f"data_on_device: {mode!r} (expected one of {', '.join(MODES)})")
    names = [n for n in SPLIT_ORDER if n in sizes] + [n for n in sizes if n not in SPLIT_ORDER]
    if mode != "auto":
        return {name: mode == "true" for name in names}
    budget = int(free * FREE_MEMORY_SHARE)
    plan: dict[str, bool] = {}
    for name in names:
        plan[name] = sizes[name] <= budget
        if plan[name]:
            budget -= sizes[name]
    return plan


def place_splits(
    splits: dict[str, SplitTensors],
    device: torch.device,
    mode: str,
    free_memory: Callable[[torch.device], int] = free_device_memory,
) -> Placement:
    """The splits where `mode` (auto | true | false, see plan_placement) puts them for training on
    `device`. Only a CUDA device moves anything: on any other the splits stay where they are."""
    if device.type != "cuda":
        return Placement(dict(splits), {n: on_device(s.label, device) for n, s in splits.items()})
    sizes = {name: split.nbytes for name, split in splits.items()}
    free = free_memory(device) if str(mode).lower() == "auto" else 0
    plan = plan_placement(sizes, mode, free)
    placed = {name: splits[name].to(device) if move else splits[name] for name, move in plan.items()}
    return Placement(placed, plan)


def shuffle_generator(device: torch.device, seed: int) -> torch.Generator:
    """The generator that shuffles the training split each epoch: on the training device, so the
    order of the batches depends on the seed and the kind of device only, not on where the split
    happens to live (SplitTensors.batches draws the permutation on the generator's device and
    moves it to the split's)."""
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu")
    generator.manual_seed(seed)
    return generator


def pin(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` in page-locked host memory, which a non-blocking copy to a GPU needs."""
    return tensor.pin_memory()


def transfer(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    return tensor.to(device, non_blocking=True)


def batch_to(batch: Batch, device: torch.device) -> Batch:
    """`batch` on `device`: unchanged when it is there; for a CUDA device from host memory, each
    tensor pinned and copied without blocking the host; otherwise a plain copy."""
    if on_device(batch.label, device):
        return batch
    if device.type != "cuda" or batch.label.device.type != "cpu":
        return batch.to(device)
    tensors = (batch.cat, batch.num, batch.seq, batch.label)
    return Batch(*(transfer(pin(t), device) for t in tensors))


def device_batches(batches: Iterable[Batch], device: torch.device) -> Iterator[Batch]:
    """The batches on `device`, one ahead: batch k+1's copy is issued before batch k is handed
    out, so on a GPU the host slices and pins the next batch while the device trains."""
    ahead: Batch | None = None
    for batch in batches:
        moved = batch_to(batch, device)
        if ahead is not None:
            yield ahead
        ahead = moved
    if ahead is not None:
        yield ahead
