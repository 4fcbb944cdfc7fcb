"""Encoded splits as whole tensors (memory-mapped from the cache, or on a device); batches are
contiguous slices, reshuffled once per epoch.

Two ways to shuffle a training split:
- full: one permutation of all rows per epoch, gathered once (a copy of the split in memory);
- blocks: the split cut into blocks of `block_rows` consecutive rows; each epoch visits the
  blocks in a random order, `window` blocks at a time, and shuffles the rows of those blocks
  together. Memory holds one window of rows, so a split larger than RAM trains from its memory
  map with mostly sequential reads. A batch then mixes rows from `window` places of the split
  rather than from anywhere in it, which matters when the file is ordered (by time, by user).
Both draw every permutation from the trainer's seeded generator: the same seed gives the same
batches.
"""

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

    def slice(self, start: int, stop: int) -> SplitTensors:
        return SplitTensors(
            self.cat[start:stop], self.num[start:stop], self.seq[start:stop], self.label[start:stop]
        )

    @staticmethod
    def concat(parts: list[SplitTensors]) -> SplitTensors:
        if len(parts) == 1:
            return parts[0]
        return SplitTensors(
            *(torch.cat([getattr(p, k) for p in parts]) for k in ("cat", "num", "seq", "label"))
        )

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.cat, self.num, self.seq, self.label))

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        block_rows: int = 0,
        window: int = 1,
    ) -> Iterator[Batch]:
        """Yield batches in order; with `shuffle`, after one permutation of the whole split (one
        gather per epoch), or with `block_rows` > 0 block by block (see the module docstring).
        Either way an epoch has num_batches(batch_size) batches, all full but the last."""
        if shuffle and block_rows > 0:
            yield from self._block_shuffled(batch_size, generator, block_rows, window)
            return
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

    def _block_shuffled(
        self, batch_size: int, generator: torch.Generator | None, block_rows: int, window: int
    ) -> Iterator[Batch]:
        n = len(self)
        device = generator.device if generator is not None else self.label.device
        blocks = (n + block_rows - 1) // block_rows
        order = torch.randperm(blocks, generator=generator, device=device).tolist()
        carry: SplitTensors | None = None  # rows short of a full batch, joined to the next window
        for first in range(0, blocks, window):
            # the window's blocks read in file order (sequential reads), then its rows shuffled
            chosen = sorted(order[first : first + window])
            rows = SplitTensors.concat(
                [self.slice(b * block_rows, min(n, (b + 1) * block_rows)) for b in chosen]
            )
            perm = torch.randperm(len(rows), generator=generator, device=device).to(self.label.device)
            mixed = rows.subset(perm)
            if carry is not None:
                mixed = SplitTensors.concat([carry, mixed])
            full = len(mixed) - len(mixed) % batch_size
            for start in range(0, full, batch_size):
                yield mixed.slice(start, start + batch_size).as_batch()
            carry = mixed.slice(full, len(mixed)) if full < len(mixed) else None
        if carry is not None:
            yield carry.as_batch()

    def num_batches(self, batch_size: int) -> int:
        return (len(self) + batch_size - 1) // batch_size
