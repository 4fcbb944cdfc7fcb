"""Floating-point operations of a piece of torch code, counted op by op while it runs.

torch.utils.flop_counter.FlopCounterMode counts matrix products, convolutions and attention only.
For a cheap CTR model (FM: sums and products of embeddings, an optimizer update over the embedding
table) that leaves out most of its arithmetic, so `OpCounter` (a TorchDispatchMode, which sees the
aten ops of the forward pass, the backward pass and the optimizer alike) sorts every op into one of
three counts:

- matmul: matrix products, convolutions and attention kernels, with torch's own formulas
  (`torch.utils.flop_counter.flop_registry`): 2 FLOPs per multiply-add.
- elementwise: 1 FLOP per output element of a pointwise op (add, mul, relu, sqrt, sigmoid, the
  optimizer's in-place updates ...), whatever the op costs in machine instructions (an exp or a
  division counts as one); 1 per input element of a reduction (sum, mean, norm, cumsum); the bias
  added by addmm, baddbmm and a biased convolution (1 per output element) and the bias gradient
  of a convolution's backward (1 per output-gradient element); 1 per accumulated element of an
  embedding's backward (a scatter-add into the table's gradient), of index_add, scatter_add and
  an accumulating index_put; and a fixed number per element for the few fused kernels in `FUSED_COST` (softmax,
  layer and batch norm, the logistic loss), the number of elementary passes they make.
- moved: elements written by ops that compute nothing (copies, concatenations, gathers such as
  an embedding lookup, flips, zero fills, the dense zero gradient of an embedding table). These
  are not FLOPs; they are reported beside them because they cost memory traffic. Views (reshape,
  transpose, expand, slicing) and allocations without a write (empty) count nothing.

FLOPs are `matmul + elementwise`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry

aten = torch.ops.aten

# elementary passes per element of a fused kernel (counted over its first tensor argument)
FUSED_COST: dict[Any, int] = {
    aten._softmax: 5,  # max, subtract, exp, sum, divide
    aten._log_softmax: 5,  # max, subtract, exp, sum, log-subtract
    aten._softmax_backward_data: 4,  # grad * y, sum, subtract, multiply
    aten._log_softmax_backward_data: 4,
    aten.native_layer_norm: 7,  # mean, centre, square, sum, scale by 1/std, weight, bias
    aten.native_layer_norm_backward: 10,
    aten.native_batch_norm: 7,
    aten._native_batch_norm_legit: 7,
    aten._native_batch_norm_legit_functional: 7,
    aten.native_batch_norm_backward: 10,
    aten.binary_cross_entropy_with_logits: 6,  # max(-x, 0), exp, exp, add, log, multiply-add
}
# reductions without torch's reduction tag (1 FLOP per input element, like the tagged ones)
REDUCTIONS = {aten.cumsum, aten.cumprod, aten._foreach_norm, aten.linalg_vector_norm}
# pointwise-tagged ops that only copy or fill: moved, not computed
COPIES = {aten.clone, aten.copy_, aten._to_copy, aten.fill_, aten.zero_, aten.fill, aten.lift_fresh_copy}
# allocations that write nothing, and the view that aten does not mark as one
FREE = {
    aten.empty,
    aten.empty_like,
    aten.empty_strided,
    aten.new_empty,
    aten.new_empty_strided,
    aten._unsafe_view,
    aten._local_scalar_dense,
}
# random draws (dropout masks): 1 per element, like a pointwise op
RANDOM = {aten.bernoulli_, aten.bernoulli, aten.uniform_, aten.normal_}
# matrix products and convolutions whose formula leaves out the bias they add
BIASED = {aten.addmm, aten.baddbmm}


@dataclass
class FlopCount:
    """Operations of one counted piece of code (see the module docstring for what each counts)."""

    matmul: int = 0
    elementwise: int = 0
    moved: int = 0

    @property
    def flops(self) -> int:
        return self.matmul + self.elementwise

    def add(self, matmul: int = 0, elementwise: int = 0, moved: int = 0) -> None:
        self.matmul += matmul
        self.elementwise += elementwise
        self.moved += moved


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    leaves, _ = tree_flatten(value)
    return (leaf for leaf in leaves if isinstance(leaf, torch.Tensor))


def _numel(value: Any) -> int:
    return sum(t.numel() for t in _tensors(value))


def op_cost(func: Any, args: tuple, kwargs: dict, out: Any) -> tuple[int, int, int]:
    """(matmul, elementwise, moved) of one aten op call with its arguments and its result."""
    packet = func.overloadpacket
    if packet in flop_registry:
        matmul = int(flop_registry[packet](*args, **kwargs, out_val=out))
        bias = 0
        if packet in BIASED:
            bias = _numel(out)
        elif packet is aten.convolution and args[2] is not None:
            bias = _numel(out)
        elif packet is aten.convolution_backward and args[-1][2]:  # output_mask: the bias gradient
            bias = _numel(args[0])
        return matmul, bias, 0
    if packet in FUSED_COST:
        return 0, FUSED_COST[packet] * _numel(args[0]), 0
    if packet is aten.embedding_dense_backward:  # scatter-add of the rows' gradients into the table's
        return 0, _numel(args[0]), _numel(out)
    if packet in (aten.index_put, aten.index_put_, aten._index_put_impl_):
        accumulate = args[3] if len(args) > 3 else kwargs.get("accumulate", False)
        values = _numel(args[2])
        copied = _numel(out) if packet is aten.index_put else 0  # the functional form copies self first
        return (0, values, copied) if accumulate else (0, 0, copied or values)
    if packet in (aten.index_add, aten.index_add_, aten.scatter_add, aten.scatter_add_):
        source = _numel(args[3])  # (self, dim, index, source): one add per source element
        return 0, source, _numel(out) if packet in (aten.index_add, aten.scatter_add) else 0
    if packet in FREE or func.is_view:
        return 0, 0, 0
    if packet in REDUCTIONS or torch.Tag.reduction in func.tags:
        return 0, _numel(args[0]), 0
    if packet in COPIES:
        return 0, 0, _numel(out)
    if torch.Tag.pointwise in func.tags or packet in RANDOM:
        return 0, _numel(out) or _numel(args[0]), 0
    if packet.__name__.startswith("_foreach_"):  # the optimizer's pointwise updates over a list
        return 0, _numel(args[0]), 0
    return 0, 0, _numel(out)


class OpCounter(TorchDispatchMode):
    """Counts the operations of everything run inside `with OpCounter() as counter:`.

    `counter.total` is a FlopCount; `counter.by_op` splits it by aten op (name -> FlopCount).
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = FlopCount()
        self.by_op: dict[str, FlopCount] = defaultdict(FlopCount)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        matmul, elementwise, moved = op_cost(func, args, kwargs, out)
        self.total.add(matmul, elementwise, moved)
        self.by_op[str(func.overloadpacket)].add(matmul, elementwise, moved)
        return out


def count_ops(fn: Callable[[], object]) -> FlopCount:
    """The operations `fn()` runs (see the module docstring)."""
    with OpCounter() as counter:
        fn()
    return counter.total
