"""The reference training protocol: initialisation, L2 regularisation, and DIS/SFG pairing.

Under one seed a DIS and an SFG model start every shared parameter from the same values and see
the same batches in the same order, so `paradigm=sfg paradigm.generator=identity` is the
discriminative run, bit for bit, for every model at its default settings.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from ge4rec.models import build_model, get_model_class, model_names
from ge4rec.paradigms import Generator, build_paradigm
from ge4rec.run import train_run
from ge4rec.train.loop import Trainer, regularized_parameters

from conftest import DIM, DISC, SFG, TINY, compose_config, shipped_config, tiny_batch, tiny_schema

INTERACTING = [m for m in model_names() if get_model_class(m).has_interaction]


pytestmark = pytest.mark.usefixtures("one_thread")


def build(name: str, paradigm: dict, seed: int = 11, dim: int = DIM, **options):
    torch.manual_seed(seed)
    return build_model(
        {**shipped_config(name), **options}, tiny_schema(), dim, build_paradigm(paradigm), seed=seed
    )


def generator_parameter_names(model) -> set[str]:
    inside = {id(p) for g in model.generators_in_order() for p in g.parameters()}
    return {n for n, p in model.named_parameters() if id(p) in inside}


# ------------------------------------------------------------------------------ initialisation


def test_every_linear_and_conv_is_xavier_normal_with_zero_bias():
    torch.manual_seed(0)
    model = build("xdeepfm", SFG, hidden_units=[300, 300], cin_layer_units=[200, 200], dim=10)
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d))]
    assert any(isinstance(m, nn.Conv1d) for m in layers)
    for layer in layers:
        if layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0
        fan_out, fan_in = layer.weight.shape[0], layer.weight[0].numel()
        expected = math.sqrt(2.0 / (fan_in + fan_out))
        if layer.weight.numel() >= 20_000:  # enough draws for a 3% check of the spread
            assert layer.weight.std().item() == pytest.approx(expected, rel=0.03)
            assert abs(layer.weight.mean().item()) < 0.05 * expected
    # PyTorch's own default (kaiming-uniform) is bounded by 1/sqrt(fan_in); a normal draw of 15,000
    # values with about that std is not
    dnn_first = model.dnn.net[0]
    assert dnn_first.weight.abs().max().item() > 1.5 / math.sqrt(dnn_first.in_features)


def test_embeddings_start_normal_with_the_configured_std():
    model = build("fm", DISC, embedding_init_std=0.01, dim=64)
    table = model.embedding.table.weight
    assert table[1:, :64].std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.count_nonzero(table[0]) == 0 and torch.count_nonzero(table[:, 64]) == 0


def test_fmfm_and_fwfm_interaction_weights_start_as_the_reference_code():
    fmfm = build("fmfm", DISC, dim=8)
    pairs = fmfm.pair_map.shape[0]
    # xavier-normal with torch's fan rules for a [P, d, d] tensor: fan_in = d*d, fan_out = P*d
    expected = math.sqrt(2.0 / (8 * 8 + pairs * 8))
    assert fmfm.pair_map.std().item() == pytest.approx(expected, rel=0.15)
    assert not torch.allclose(fmfm.pair_map[0], torch.eye(8))
    fwfm = build("fwfm", DISC)
    assert isinstance(fwfm.pair_weight, nn.Linear) and fwfm.pair_weight.out_features == 1
    assert not torch.allclose(fwfm.pair_weight.weight, torch.ones_like(fwfm.pair_weight.weight))
    assert torch.count_nonzero(fwfm.pair_weight.bias) == 0


def test_generators_draw_from_their_own_seeded_stream():
    a = build("dcnv2", SFG, seed=5)
    b = build("dcnv2", SFG, seed=5)
    c = build("dcnv2", SFG, seed=6)
    weights = lambda m: [g.linear.weight for g in m.generators_in_order()]  # noqa: E731
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b)))
    assert not any(torch.equal(x, y) for x, y in zip(weights(a), weights(c)))
    first, second = weights(a)[:2]
    assert not torch.equal(first, second)  # one stream per layer
    # the dense generator is xavier-normal: std sqrt(2 / (2 D)) = 1 / sqrt(D)
    width = first.shape[0]
    assert first.std().item() == pytest.approx(1 / math.sqrt(width), rel=0.2)


# ------------------------------------------------------------------------------------ pairing


@pytest.mark.parametrize("name", INTERACTING)
def test_dis_and_sfg_start_every_shared_parameter_from_the_same_values(name):
    dis, sfg = build(name, DISC), build(name, SFG)
    dis_state, sfg_state = dis.state_dict(), sfg.state_dict()
    generated = generator_parameter_names(sfg)
    assert generated and set(sfg_state) - set(dis_state) == generated
    for key, value in dis_state.items():
        assert torch.equal(value, sfg_state[key]), key


@pytest.mark.parametrize("name", INTERACTING)
def test_the_identity_generator_is_the_discriminative_model(name):
    std = {"embedding_init_std": 0.5}
    dis, identity = build(name, DISC, **std), build(name, {**SFG, "generator": "identity"}, **std)
    batch = tiny_batch(tiny_schema())
    dis.eval(), identity.eval()
    assert torch.equal(dis(batch), identity(batch))


@pytest.mark.parametrize("source", ["xl", "x0"])
def test_cross_layers_identity_generator_gives_x0_for_either_source(source):
    std = {"embedding_init_std": 0.5}  # large enough for the generated operand to matter
    dis = build("dcnv2", DISC, **std)
    identity = build("dcnv2", {**SFG, "generator": "identity", "source": source}, **std)
    learned = build("dcnv2", {**SFG, "source": source}, **std)
    batch = tiny_batch(tiny_schema())
    for m in (dis, identity, learned):
        m.eval()
    assert torch.equal(dis(batch), identity(batch))
    assert not torch.allclose(dis(batch), learned(batch))


def run_metrics(tmp_path, name: str, *overrides: str) -> dict:
    cfg = compose_config([*TINY, "analysis.enabled=false", "save_checkpoint=false", *overrides], tmp_path)
    metrics = train_run(cfg, tmp_path / name)
    return {split: metrics[split] for split in ("valid", "test")} | {"history": metrics["history"]}


@pytest.mark.parametrize("name", INTERACTING)
def test_sfg_identity_trains_bit_identical_to_disc(tmp_path, name):
    """Whole runs at the model's shipped defaults: same batches, same initial values, same metrics."""
    dis = run_metrics(tmp_path, "dis", f"model={name}", "paradigm=disc", "trainer.max_epochs=2")
    same = run_metrics(
        tmp_path, "id", f"model={name}", "paradigm=sfg", "paradigm.generator=identity", "trainer.max_epochs=2"
    )
    assert dis == same


def test_learned_generator_changes_the_run(tmp_path):
    dis = run_metrics(tmp_path, "dis", "model=fm", "paradigm=disc")
    sfg = run_metrics(tmp_path, "sfg", "model=fm", "paradigm=sfg")
    assert dis["test"] != sfg["test"]


# ---------------------------------------------------------------------------- regularisation


def trainer(embedding: float, net: float) -> Trainer:
    cfg = compose_config(
        [f"trainer.embedding_regularizer={embedding}", f"trainer.net_regularizer={net}"],
        Path("."),
    )
    return Trainer(cfg.trainer, torch.device("cpu"), seed=0)


def test_regularizers_equal_a_hand_computation():
    model = build("fwfm", SFG, linear_type="lw")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    table = model.embedding.table.weight  # the whole table, first-order column and padding row included
    generator = [p for g in model.generators_in_order() for p in g.parameters()]
    named = {n: p for n, p in model.named_parameters()}
    # net: every module's own `weight` / `bias` outside embedding tables; the model's global bias
    # parameter is named `bias` too; FwFM's pair Linear and the generator's Linear are covered
    net = [named["bias"], named["pair_weight.weight"], named["pair_weight.bias"], *generator]
    embedding_sum = table.square().sum()
    net_sum = sum(p.square().sum() for p in net)
    got = trainer(1e-3, 0.0).regularization(model)
    torch.testing.assert_close(got, 0.5 * 1e-3 * embedding_sum)
    got = trainer(0.0, 2e-2).regularization(model)
    torch.testing.assert_close(got, 0.5 * 2e-2 * net_sum)
    got = trainer(1e-3, 2e-2).regularization(model)
    torch.testing.assert_close(got, 0.5 * 1e-3 * embedding_sum + 0.5 * 2e-2 * net_sum)
    assert trainer(0.0, 0.0).regularization(model) is None


def test_parameters_with_other_names_are_not_regularized():
    model = build("fmfm", SFG)
    embedding, net = regularized_parameters(model)
    assert [p is model.embedding.table.weight for p in embedding] == [True]
    assert all(p is not model.pair_map for p in net)  # FmFM's pair matrices: not weight / bias
    assert any(isinstance(g, Generator) for g in model.modules())
    generator_ids = {id(p) for g in model.generators_in_order() for p in g.parameters()}
    assert generator_ids <= {id(p) for p in net}


def test_the_regularizer_moves_weights_toward_zero(tmp_path):
    plain = run_metrics(tmp_path, "plain", "model=fm", "paradigm=disc")
    strong = run_metrics(tmp_path, "strong", "model=fm", "paradigm=disc", "trainer.embedding_regularizer=1.0")
    # a huge embedding penalty keeps the embeddings at about zero: the model is close to its bias
    assert strong["history"][0]["train_loss"] != plain["history"][0]["train_loss"]
    assert strong["test"]["auc"] < plain["test"]["auc"]
