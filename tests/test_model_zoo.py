"""Every registered model in every paradigm it supports: shapes, gradients, DIS == SFG under an
identity generator, generator sizes, and the interactions against hand-written references."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ge4rec.errors import ConfigError
from ge4rec.models import get_model_class, model_names
from ge4rec.models.base import GENERATED, OPERAND_A, OPERAND_B, RAW, generated_layer
from ge4rec.models.dcn import CrossNetV1
from ge4rec.models.dcnv2 import CrossNetV2
from ge4rec.models.fibinet import BilinearInteraction
from ge4rec.models.gdcn import GatedCrossNet
from ge4rec.models.layers import pair_indices, pair_products, pair_sum
from ge4rec.models.xdeepfm import CompressedInteraction
from ge4rec.paradigms import GENERATORS, Generator, IdentityGenerator, build_paradigm

from conftest import DIM, DISC, SFG, shipped_config, tiny_batch, tiny_model, tiny_schema

# an SFG whose generators become the identity once their weights are set to I
IDENTITY_SFG = {
    **SFG,
    "activation": "identity",
    "gamma": 1.0,
    "bias": False,
    "residual": False,
    "source": "x0",
}
# models with one generator per interaction layer, and the option that sets the number of layers
LAYERED = {
    "crossnet": "num_cross_layers",
    "dcnv2": "num_cross_layers",
    "dcn": "num_cross_layers",
    "gdcn": "num_cross_layers",
    "xdeepfm": "cin_layer_units",
    "cin": "cin_layer_units",
}


pytestmark = pytest.mark.usefixtures("one_thread")


def make(name: str, paradigm: dict, seed: int = 0, **options):
    """The model at its shipped settings, embeddings large enough to interact."""
    return tiny_model({**shipped_config(name), "embedding_init_std": 0.5, **options}, paradigm, seed)


ALL = model_names()
INTERACTING = [m for m in ALL if get_model_class(m).has_interaction]
DISC_ONLY = [m for m in ALL if not get_model_class(m).has_interaction]
SUPPORTED = [(m, "disc") for m in ALL] + [(m, "sfg") for m in INTERACTING]


def paradigm_of(kind: str) -> dict:
    return DISC if kind == "disc" else SFG


def generator_count(name: str) -> int:
    if name not in LAYERED:
        return 1
    value = shipped_config(name)[LAYERED[name]]
    return len(value) if isinstance(value, list) else int(value)


def test_the_zoo_is_complete_and_every_model_has_a_config():
    expected = {
        "lr",
        "dnn",
        "fm",
        "fwfm",
        "fmfm",
        "deepfm",
        "ipnn",
        "xdeepfm",
        "cin",
        "crossnet",
        "dcn",
        "dcnv2",
        "gdcn",
        "autoint",
        "autoint_plus",
        "fibinet",
        "finalmlp",
        "widedeep",
    }
    assert expected <= set(ALL)
    for name in ALL:
        assert shipped_config(name)["name"] == name
    assert set(DISC_ONLY) == {"lr", "dnn", "widedeep"}


@pytest.mark.parametrize("name", DISC_ONLY)
def test_models_without_an_interaction_refuse_sfg(name):
    with pytest.raises(ConfigError, match="no feature interaction"):
        make(name, SFG)


@pytest.mark.parametrize("name,kind", SUPPORTED)
def test_output_is_one_finite_logit_per_row(name, kind):
    model = make(name, paradigm_of(kind))
    batch = tiny_batch(tiny_schema())
    for mode in (model.train, model.eval):
        mode()
        out = model(batch)
        assert out.shape == (len(batch),) and torch.isfinite(out).all()


@pytest.mark.parametrize("name,kind", SUPPORTED)
def test_gradients_reach_every_parameter(name, kind):
    # FiBiNET's SENET squeezes 5 fields to 5 // 3 = 1 ReLU unit, which a xavier-normal start kills
    # for about half of all seeds: give the tiny model a wider excitation layer
    options = {"reduction_ratio": 1} if name == "fibinet" else {}
    model = make(name, paradigm_of(kind), **options)
    batch = tiny_batch(tiny_schema())
    loss = nn.functional.binary_cross_entropy_with_logits(model(batch), batch.label)
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead}"
    if kind == "sfg":  # the generator is among them
        assert any(".generator" in f".{n}" or "generators." in n for n, _ in model.named_parameters())


@pytest.mark.parametrize("name", INTERACTING)
@pytest.mark.parametrize("pairs", ["i<j", "all"])
def test_identity_generator_makes_sfg_equal_to_disc(name, pairs):
    disc = make(name, {**DISC, "pairs": pairs})
    sfg = make(name, {**IDENTITY_SFG, "pairs": pairs}, seed=1)
    dense = [m for m in sfg.modules() if isinstance(m, GENERATORS["dense"])]
    assert len(dense) == generator_count(name)
    with torch.no_grad():
        for gen in dense:
            gen.linear.weight.copy_(torch.eye(gen.linear.weight.shape[0]))
    generator_prefixes = tuple(f"{n}." for n, m in sfg.named_modules() if isinstance(m, Generator))
    missing, unexpected = sfg.load_state_dict(disc.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(generator_prefixes) for k in missing)
    disc.eval()
    sfg.eval()
    batch = tiny_batch(tiny_schema(), seed=3)
    torch.testing.assert_close(sfg(batch), disc(batch), rtol=1e-5, atol=1e-5)
    # and the generator is really used: changing it changes the output
    with torch.no_grad():
        for gen in dense:
            gen.linear.weight.mul_(-1.5)
    assert not torch.allclose(sfg(batch), disc(batch), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", INTERACTING)
def test_generator_parameters_match_the_design(name):
    width = tiny_schema().num_fields * DIM
    disc, sfg = make(name, DISC), make(name, SFG)
    count = generator_count(name)
    assert disc.generator_parameters() == 0
    assert sfg.generator_parameters() == count * width**2
    extra = sum(p.numel() for p in sfg.parameters()) - sum(p.numel() for p in disc.parameters())
    assert extra == count * width**2  # the generators are the only difference
    shared = make(name, {**SFG, "share_generator": True})
    assert shared.generator_parameters() == width**2


# the tensor the first cross layer multiplies its operand with; every other model pairs the
# generated operand with the raw E (paradigm.symmetric off), DCN's rank-one cross with x_0 itself
FIRST_PARTNER = {
    "dcnv2": lambda model, x0: model.cross.layers[0](x0),
    "crossnet": lambda model, x0: model.cross.layers[0](x0),
    "gdcn": lambda model, x0: model.cross.crosses[0](x0) * torch.sigmoid(model.cross.gates[0](x0)),
}


@pytest.mark.parametrize("name,kind", SUPPORTED)
def test_capture_names_every_operand_and_the_two_sides_of_the_first_interaction(name, kind):
    model = make(name, paradigm_of(kind))
    batch = tiny_batch(tiny_schema())
    seen = model.capture(batch)
    if name == "lr":  # no embedding vectors, nothing to analyse
        assert seen == {}
        return
    with torch.no_grad():
        e, _ = model.embedding(batch)
    assert torch.equal(seen[RAW], e)
    if not model.has_interaction:
        assert set(seen) == {RAW}
        return
    count = generator_count(name)
    layers = [generated_layer(k) for k in range(count)] if name in LAYERED else [GENERATED]
    assert set(seen) == {RAW, *layers, OPERAND_A, OPERAND_B}
    x0 = e.flatten(1)
    assert seen[OPERAND_A].shape == seen[OPERAND_B].shape == (len(batch), x0.shape[1])
    # side A is the first interaction's generated operand, side B what it meets there
    assert torch.equal(seen[OPERAND_A], seen[layers[0]].flatten(1))
    with torch.no_grad():
        partner = FIRST_PARTNER.get(name, lambda model, x0: x0)(model, x0)
    assert torch.equal(seen[OPERAND_B], partner)
    for layer in layers:  # the identity generator hands E itself to every interaction
        assert torch.equal(seen[layer].flatten(1), x0) == (kind == "disc")


# ------------------------------------------------------- vectorised pair sums vs an explicit loop


def loop_pairs(num_fields: int, pairs: str) -> list[tuple[int, int]]:
    return [(i, j) for i in range(num_fields) for j in range(num_fields) if pairs == "all" or i < j]


@pytest.mark.parametrize("pairs", ["i<j", "all"])
def test_pair_sum_and_products_equal_a_double_loop(pairs):
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(4, 5, 3, generator=g), torch.randn(4, 5, 3, generator=g)
    expected = [sum((z[b, i] * e[b, j]).sum() for i, j in loop_pairs(5, pairs)) for b in range(4)]
    torch.testing.assert_close(pair_sum(z, e, pairs), torch.stack(expected))
    products = [[(z[b, i] * e[b, j]).sum() for i, j in loop_pairs(5, pairs)] for b in range(4)]
    torch.testing.assert_close(pair_products(z, e, pairs), torch.tensor(products))
    rows, cols = pair_indices(5, pairs)
    assert list(zip(rows.tolist(), cols.tolist())) == loop_pairs(5, pairs)


def fm_family_reference(model, batch) -> torch.Tensor:
    """The model's logit from its own weights, one pair at a time."""
    e, linear = model.embedding(batch)
    z = model.generator(e)
    f, out = e.shape[1], []
    for b in range(e.shape[0]):
        kind = getattr(model, "linear_type", "lw")
        if kind == "lw":  # a weight per value and a global bias
            total = linear[b] + model.bias[0]
        elif kind == "felv":  # a d-vector per value, dotted with the value's embedding
            total = (e[b] * linear[b]).sum()
        else:  # filv: a d-vector per field
            total = (e[b] * model.field_linear.weight.view(f, -1)).sum()
        if model.name == "fwfm":
            total = total + model.pair_weight.bias[0]
        for p, (i, j) in enumerate(loop_pairs(f, model.paradigm.pairs)):
            if model.name == "fm":
                total = total + z[b, i] @ e[b, j]
            elif model.name == "fwfm":
                total = total + model.pair_weight.weight[0, p] * (z[b, i] @ e[b, j])
            elif model.interaction_type == "matrix":  # fmfm: <e_i M_ij, z_j>
                total = total + (e[b, i] @ model.pair_map[p]) @ z[b, j]
            else:
                total = total + (e[b, i] * model.pair_map[p]) @ z[b, j]
        out.append(total)
    return torch.stack(out)


@pytest.mark.parametrize(
    "name,options",
    [
        ("fm", {}),
        ("fwfm", {}),
        ("fwfm", {"linear_type": "filv"}),
        ("fwfm", {"linear_type": "felv"}),
        ("fmfm", {}),
        ("fmfm", {"interaction": "vector"}),
    ],
)
@pytest.mark.parametrize("kind", ["disc", "sfg"])
@pytest.mark.parametrize("pairs", ["i<j", "all"])
def test_fm_family_models_equal_their_pair_loop(name, options, kind, pairs):
    model = make(name, {**paradigm_of(kind), "pairs": pairs}, **options)
    with torch.no_grad():  # make every learned pair weight distinct from its initial value
        for pname, p in model.named_parameters():
            if pname.split(".")[0] in ("pair_weight", "pair_map", "field_linear", "bias", "embedding"):
                p.add_(0.3 * torch.randn_like(p))  # (the embedding: its first-order columns start at 0)
    batch = tiny_batch(tiny_schema())
    torch.testing.assert_close(model(batch), fm_family_reference(model, batch), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["field_all", "field_each", "field_interaction"])
@pytest.mark.parametrize("pairs", ["i<j", "all"])
def test_fibinet_bilinear_equals_its_pair_loop(kind, pairs):
    rows, cols = pair_indices(4, pairs)
    layer = BilinearInteraction(4, 3, kind, rows, cols)
    g = torch.Generator().manual_seed(1)
    left, right = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    expected = torch.zeros(2, len(rows), 3)
    for b in range(2):
        for p, (i, j) in enumerate(loop_pairs(4, pairs)):
            w = layer.weight[{"field_all": 0, "field_each": i, "field_interaction": p}[kind]]
            expected[b, p] = (left[b, i] @ w) * right[b, j]
    torch.testing.assert_close(layer(left, right), expected)


# ------------------------------------------------------------- one layer against hand-computed values


def test_one_cin_layer_by_hand():
    cin = CompressedInteraction(num_fields=2, layer_units=[1])
    with torch.no_grad():
        cin.layers[0].weight.copy_(torch.tensor([1.0, -1.0, 0.5, 2.0]).view(1, 4, 1))  # index h * F + m
        cin.layers[0].bias.fill_(0.5)
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # hidden state X^0: fields [1, 2] and [3, 4]
    u = torch.tensor([[[2.0, 1.0], [1.0, 1.0]]])  # the operand U: x0, or the generated Z
    # X^1 = 1*(x0*u0) - 1*(x0*u1) + 0.5*(x1*u0) + 2*(x1*u1) + 0.5
    #     = [2,2] - [1,2] + [3,2] + [6,8] + 0.5 = [10.5, 10.5]; sum pooling -> 21
    assert cin(x, [u]).tolist() == [[21.0]]


def identity_generators(count: int) -> nn.ModuleList:
    return nn.ModuleList(IdentityGenerator(1, 2) for _ in range(count))


def test_one_cross_v2_layer_by_hand():
    cross = CrossNetV2(2, 1, bias=True)
    with torch.no_grad():
        cross.layers[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        cross.layers[0].bias.copy_(torch.tensor([0.0, 1.0]))
    x0 = torch.tensor([[1.0, 2.0]])
    # W x0 + b = [1, 5]; x1 = x0 + x0 * [1, 5] = [2, 12]
    assert cross(x0, identity_generators(1)).tolist() == [[2.0, 12.0]]
    # SFG, source x_l, residual: u = relu(G x0) + x0 = [2, 1] + [1, 2] = [3, 3]; x1 = x0 + u * [1, 5]
    gen = build_paradigm(SFG).generator(1, 2, residual_default=True)
    with torch.no_grad():
        gen.linear.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert cross(x0, nn.ModuleList([gen])).tolist() == [[4.0, 17.0]]


def test_one_cross_v1_layer_by_hand():
    cross = CrossNetV1(2, 1)
    with torch.no_grad():
        cross.projections[0].weight.copy_(torch.tensor([[1.0, 1.0]]))
        cross.biases[0].copy_(torch.tensor([0.5, 0.0]))
    x0 = torch.tensor([[1.0, 2.0]])
    # x1 = x0 (x0 . w) + b + x0 = 3 * [1, 2] + [0.5, 0] + [1, 2] = [4.5, 8]
    assert cross(x0, identity_generators(1)).tolist() == [[4.5, 8.0]]


def test_one_gated_cross_layer_by_hand():
    cross = GatedCrossNet(2, 1)
    with torch.no_grad():
        cross.crosses[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        cross.crosses[0].bias.copy_(torch.tensor([0.0, 1.0]))
        cross.gates[0].weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 0.0]]))
    x0 = torch.tensor([[1.0, 2.0]])
    # (W x0 + b) * sigmoid(0) = [1, 5] * 0.5 = [0.5, 2.5]; x1 = x0 + x0 * [0.5, 2.5] = [1.5, 7]
    assert cross(x0, identity_generators(1)).tolist() == [[1.5, 7.0]]
