"""The op-level FLOP counter on cases whose counts are known by hand."""

import torch
from torch import nn

from ge4rec.analysis.flops import FlopCount, OpCounter, count_ops


def test_linear_forward_is_two_flops_per_multiply_add_plus_the_bias():
    layer = nn.Linear(32, 8)
    x = torch.randn(5, 32)
    count = count_ops(lambda: layer(x))
    assert count.matmul == 2 * 5 * 32 * 8
    assert count.elementwise == 5 * 8  # the bias add
    assert count.moved == 0


def test_linear_without_bias_forward_and_backward():
    layer = nn.Linear(32, 8, bias=False)
    x = torch.randn(5, 32, requires_grad=True)
    count = count_ops(lambda: layer(x).sum().backward())
    # forward x W^T, backward dL/dx = g W and dL/dW = g^T x: three products of 2*5*32*8
    assert count.matmul == 3 * 2 * 5 * 32 * 8
    # the sum reads 5*8 elements; its backward only expands the scalar gradient (a view)
    assert count.elementwise == 5 * 8


def test_pointwise_ops_count_one_per_output_element_and_reductions_one_per_input():
    a, b = torch.randn(4, 6), torch.randn(4, 6)
    assert count_ops(lambda: a * b) == FlopCount(elementwise=24)
    assert count_ops(lambda: torch.relu(a).add_(b)) == FlopCount(elementwise=48)
    assert count_ops(lambda: a.sum(dim=1)) == FlopCount(elementwise=24)
    assert count_ops(lambda: a[:, None] * b[None]) == FlopCount(elementwise=4 * 4 * 6)  # broadcast


def test_copies_and_gathers_are_moved_elements_and_views_are_free():
    a = torch.randn(4, 6)
    assert count_ops(lambda: a.view(6, 4).t().unsqueeze(0)) == FlopCount()
    assert count_ops(lambda: torch.cat([a, a])) == FlopCount(moved=48)
    assert count_ops(lambda: a.flip(0)) == FlopCount(moved=24)
    table = nn.Embedding(100, 3)
    rows = torch.tensor([[1, 2], [3, 4]])
    assert count_ops(lambda: table(rows)) == FlopCount(moved=2 * 2 * 3)


def test_embedding_backward_accumulates_the_rows_into_a_dense_table_gradient():
    table = nn.Embedding(100, 3)
    rows = table(torch.tensor([[1, 2], [3, 1]]))
    count = count_ops(lambda: rows.backward(torch.ones_like(rows)))
    assert count.elementwise == 2 * 2 * 3  # one add per gathered element
    assert count.moved >= 100 * 3  # the zero-filled table gradient


def test_adam_step_counts_its_pointwise_updates_per_parameter():
    weight = nn.Parameter(torch.randn(10, 7))
    optimizer = torch.optim.Adam([weight], lr=1e-3)
    weight.grad = torch.randn(10, 7)
    optimizer.step()  # the first step creates the state
    count = count_ops(optimizer.step)
    assert count.matmul == 0
    # a handful of passes over the 70 weights (moments, bias corrections, the update), plus the step counter
    assert 5 * 70 < count.elementwise <= 15 * 70 + 10


def test_counter_splits_by_op_and_sees_the_backward_pass():
    x = torch.randn(3, 4, requires_grad=True)
    with OpCounter() as counter:
        (torch.sigmoid(x) * 2.0).sum().backward()
    assert counter.by_op["aten.sigmoid"].elementwise == 12
    assert counter.by_op["aten.sigmoid_backward"].elementwise == 12
    assert counter.total.flops == sum(c.flops for c in counter.by_op.values())


def test_gather_backward_adds_each_gathered_gradient_once():
    x = torch.randn(4, 6, 3, requires_grad=True)
    index = torch.tensor([0, 2, 2, 5])
    picked = x.index_select(1, index)
    grad = torch.ones_like(picked)
    count = count_ops(lambda: picked.backward(grad))
    assert count.elementwise == 4 * 4 * 3  # index_add of the 4 gathered fields' gradients
    assert count.moved >= 4 * 6 * 3  # into a zero-filled gradient of x's shape
