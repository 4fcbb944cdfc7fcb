"""Encoded splits held as whole tensors; batches are contiguous slices, reshuffled once per epoch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """One mini-batch. `cat` and `seq` hold rows of the shared embedding table (int32)."""

    cat: torch.Tensor  # [B, F_cat]
    num: torch.Tensor  # [B, F_num] float32, already normalised
    seq: torch.Tensor  # [B, sum of sequence max_len], 0 = padding
    label: torch.Tensor  # [B] float32 in {0, 1}

    def __len__(self) -> int:
        return self.label.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        if self.label.device == torch.device(device):
            return self
        nb = torch.device(device).type == "cuda"
        return Batch(*(t.to(device, non_blocking=nb) for t in (self.cat, self.num, self.seq, self.label)))


@dataclass
class SplitTensors:
    """A whole encoded split in memory."""

    cat: torch.Tensor
    num: torch.Tensor
    seq: torch.Tensor
    label: torch.Tensor

    def __len__(self) -> int:
        return self.label.shape[0]

    def as_batch(self) -> Batch:
        return Batch(self.cat, self.num, self.seq, self.label)

    def subset(self, index: torch.Tensor) -> SplitTensors:
        return SplitTensors(self.cat[index], self.num[index], self.seq[index], self.label[index])

    def to(self, device: torch.device | str) -> SplitTensors:
        return SplitTensors(*(t.to(device) for t in (self.cat, self.num, self.seq, self.label)))

    def batches(
        self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[Batch]:
        """Yield batches in order, or after one permutation of the whole split (one gather per epoch)."""
        source = self
        if shuffle:
            device = generator.device if generator is not None else self.label.device
            perm = torch.randperm(len(self), generator=generator, device=device)
            source = self.subset(perm.to(self.label.device))
        for start in range(0, len(source), batch_size):
            stop = start + batch_size
            yield Batch(
                source.cat[start:stop],
                source.num[start:stop],
                source.seq[start:stop],
                source.label[start:stop],
            )

    def num_batches(self, batch_size: int) -> int:
        return (len(self) + batch_size - 1) // batch_size
