"""One embedding table for every field, looked up once per batch (torchrec-style per-field offsets)."""

from __future__ import annotations

import torch
from torch import nn

from ge4rec.data.batches import Batch
from ge4rec.data.spec import NUMERIC, SEQUENCE, Schema


class FeatureEmbedding(nn.Module):
    """Maps a batch to field embeddings V [B, F, d] (and, optionally, first-order weights [B]).

    Categorical fields index their rows directly; numeric fields scale their single row by the
    normalised value; multi-valued (sequence) fields are the masked mean of their tokens' rows.
    With `linear=True` the table has one extra column that serves as each value's first-order
    weight, so the LR part of a model costs no second lookup; with `linear_vectors=True` it has d
    extra columns, a first-order d-vector per value (FwFM's FeLV), returned per field. The extra
    columns start at zero, the embeddings normal(0, init_std).
    """

    # buffers (register_buffer)
    numeric_rows: torch.Tensor
    sequence_assign: torch.Tensor

    def __init__(
        self,
        schema: Schema,
        dim: int,
        linear: bool = False,
        init_std: float = 1e-4,
        linear_vectors: bool = False,
    ):
        super().__init__()
        if linear and linear_vectors:
            raise ValueError("FeatureEmbedding: linear and linear_vectors exclude each other")
        self.schema, self.dim, self.linear, self.linear_vectors = schema, dim, linear, linear_vectors
        self.num_fields = schema.num_fields
        extra = 1 if linear else (dim if linear_vectors else 0)
        self.table = nn.Embedding(schema.num_embeddings, dim + extra, padding_idx=0)
        nn.init.normal_(self.table.weight, std=init_std)
        with torch.no_grad():
            self.table.weight[0].zero_()
            self.table.weight[:, dim:].zero_()
        numeric = schema.of_type(NUMERIC)
        sequences = schema.of_type(SEQUENCE)
        self.register_buffer(
            "numeric_rows", torch.tensor([f.offset for f in numeric], dtype=torch.int32), persistent=False
        )
        # pooling matrix: sequence slot s belongs to sequence field f
        slots = sum(f.max_len for f in sequences)
        assign = torch.zeros(len(sequences), slots)
        start = 0
        for k, f in enumerate(sequences):
            assign[k, start : start + f.max_len] = 1.0
            start += f.max_len
        self.register_buffer("sequence_assign", assign, persistent=False)
        self.num_sequence = len(sequences)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        b = batch.label.shape[0]
        n_cat, n_num = batch.cat.shape[1], self.numeric_rows.shape[0]
        index = torch.cat([batch.cat, self.numeric_rows.expand(b, n_num), batch.seq], dim=1)
        rows = self.table(index)  # the one lookup: [B, F_cat + F_num + slots, d (+1)]
        parts = [rows[:, :n_cat]]
        if n_num:
            parts.append(rows[:, n_cat : n_cat + n_num] * batch.num.unsqueeze(-1))
        if self.num_sequence:
            seq_rows = rows[:, n_cat + n_num :]
            counts = (batch.seq != 0).to(rows.dtype) @ self.sequence_assign.T  # [B, F_seq]
            pooled = torch.einsum("bsd,fs->bfd", seq_rows, self.sequence_assign)
            parts.append(pooled / counts.clamp(min=1.0).unsqueeze(-1))
        out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        if self.linear:
            first_order = out[..., self.dim].sum(dim=1)
            out = out[..., : self.dim]
        elif self.linear_vectors:
            first_order = out[..., self.dim :]  # [B, F, d]
            out = out[..., : self.dim]
        else:
            first_order = None
        return out, first_order
