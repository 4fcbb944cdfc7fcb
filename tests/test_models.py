"""The core models in both paradigms: parameter counts, DIS == SFG with an identity generator,
the vectorised pair sum, and one lookup per batch."""

import pytest
import torch

from ge4rec.models.base import (
    GENERATED,
    OPERAND_A,
    OPERAND_B,
    RAW,
    CTRModel,
    generated_layer,
    generated_layer_index,
)
from ge4rec.models.layers import pair_indices, pair_products, pair_sum, suffix_sum
from ge4rec.paradigms import build_paradigm

from conftest import DIM, DISC, SFG, tiny_batch, tiny_model, tiny_schema

MODELS = {
    "fm": {"name": "fm"},
    "deepfm": {"name": "deepfm", "hidden_units": [16, 8], "dropout": 0.0},
    "dcnv2": {"name": "dcnv2", "num_cross_layers": 2, "hidden_units": [16], "dropout": 0.0},
    "dcnv2_stacked_ref": {
        "name": "dcnv2",
        "num_cross_layers": 2,
        "hidden_units": [16],
        "dropout": 0.0,
        "structure": "stacked",
        "variant": "reference",
    },
}


def make(model_key: str, paradigm: dict, seed: int = 0):
    # embeddings large enough for interactions to matter
    return tiny_model({**MODELS[model_key], "embedding_init_std": 0.5}, paradigm, seed)


@pytest.mark.parametrize("key,generators", [("fm", 1), ("deepfm", 1), ("dcnv2", 2), ("dcnv2_stacked_ref", 2)])
@pytest.mark.parametrize("bias", [False, True])
def test_sfg_adds_exactly_fd_squared_per_generator(key, generators, bias):
    disc = make(key, DISC)
    sfg = make(key, {**SFG, "bias": bias})
    fd = tiny_schema().num_fields * DIM
    per = fd * fd + (fd if bias else 0)
    extra = sum(p.numel() for p in sfg.parameters()) - sum(p.numel() for p in disc.parameters())
    assert extra == generators * per
    assert sfg.generator_parameters() == generators * per and disc.generator_parameters() == 0


@pytest.mark.parametrize("key", list(MODELS))
@pytest.mark.parametrize("pairs", ["i<j", "all"])
def test_identity_generator_makes_sfg_equal_to_disc(key, pairs):
    disc = make(key, {**DISC, "pairs": pairs})
    sfg = make(
        key,
        {**SFG, "activation": "identity", "residual": False, "source": "x0", "pairs": pairs},
        seed=1,
    )
    missing, unexpected = sfg.load_state_dict(disc.state_dict(), strict=False)
    assert not unexpected and all("generator" in k for k in missing)
    with torch.no_grad():
        for name, p in sfg.named_parameters():
            if "generator" in name and name.endswith("weight"):
                p.copy_(torch.eye(p.shape[0]))
    disc.eval()
    sfg.eval()
    batch = tiny_batch(tiny_schema())
    torch.testing.assert_close(sfg(batch), disc(batch), rtol=1e-6, atol=1e-6)
    # and a trained generator does change the output
    with torch.no_grad():
        for name, p in sfg.named_parameters():
            if "generator" in name and name.endswith("weight"):
                p.mul_(-1.5)
    assert not torch.allclose(sfg(batch), disc(batch))


def test_pair_sum_equals_explicit_double_loop():
    g = torch.Generator().manual_seed(3)
    z, e = torch.randn(5, 6, 3, generator=g), torch.randn(5, 6, 3, generator=g)
    upper = sum((z[:, i] * e[:, j]).sum(-1) for i in range(6) for j in range(i + 1, 6))
    every = sum((z[:, i] * e[:, j]).sum(-1) for i in range(6) for j in range(6))
    torch.testing.assert_close(pair_sum(z, e, "i<j"), upper)
    torch.testing.assert_close(pair_sum(z, e, "all"), every)
    classic = 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1)).sum(-1)  # Rendle's identity for z = e
    torch.testing.assert_close(pair_sum(e, e, "i<j"), classic)


def test_suffix_sum_matches_autograd_of_the_reversed_cumsum_bit_for_bit():
    g = torch.Generator().manual_seed(4)
    base = torch.randn(7, 9, 5, generator=g)
    grad = torch.randn(7, 9, 5, generator=g)
    ours = base[..., :4].clone().requires_grad_()  # a slice of a wider row, as the embedding gives
    ref = base[..., :4].clone().requires_grad_()
    out, expected = suffix_sum(ours), ref.flip(1).cumsum(1).flip(1)
    assert torch.equal(out, expected)
    torch.testing.assert_close(out[:, 2], base[:, 2:, :4].sum(1))  # field 2's suffix: fields 2..8
    out.backward(grad[..., :4])
    expected.backward(grad[..., :4])
    assert ours.grad is not None and torch.equal(ours.grad, ref.grad)


@pytest.mark.parametrize("pairs", ["i<j", "all"])
def test_pair_products_and_their_gradient_are_the_gram_entries_of_the_pairs_exactly(pairs):
    g = torch.Generator().manual_seed(5)
    z = torch.randn(4, 6, 3, generator=g, requires_grad=True)
    e = torch.randn(4, 6, 3, generator=g, requires_grad=True)
    rows, cols = pair_indices(6, pairs)
    out = pair_products(z, e, pairs)
    expected = torch.einsum("bid,bjd->bij", z, e)[:, rows, cols]
    assert torch.equal(out, expected)
    weights = torch.randn(out.shape, generator=g)
    ours = torch.autograd.grad((out * weights).sum(), (z, e))
    theirs = torch.autograd.grad((expected * weights).sum(), (z, e))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))


@pytest.mark.parametrize("key", list(MODELS))
@pytest.mark.parametrize("paradigm", ["disc", "sfg"])
def test_forward_shape_gradients_and_one_lookup(key, paradigm):
    model = make(key, DISC if paradigm == "disc" else SFG)
    calls = []
    model.embedding.table.register_forward_hook(lambda *a: calls.append(1))
    batch = tiny_batch(tiny_schema())
    out = model(batch)
    assert out.shape == (len(batch),) and torch.isfinite(out).all()
    assert len(calls) == 1  # every field, numeric and sequence included, in one lookup
    torch.nn.functional.binary_cross_entropy_with_logits(out, batch.label).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []
    recorded = model.capture(batch)
    assert {RAW, OPERAND_A, OPERAND_B} <= set(recorded)


class TwoLayerProbe(CTRModel):
    """Two interaction layers with known operands: 2E and 3E, meeting 5E and 7E."""

    def forward(self, batch):
        e, _ = self.embedding(batch)
        self.expose_operands(raw=e)
        for layer, (scale, partner) in enumerate([(2.0, 5.0), (3.0, 7.0)]):
            self.expose_operands(generated=scale * e, partner=partner * e, layer=layer)
        return e.sum(dim=(1, 2))


def test_expose_operands_names_every_layer_and_keeps_the_first_interactions_sides():
    model = TwoLayerProbe(tiny_schema(), DIM, build_paradigm(DISC))
    batch = tiny_batch(tiny_schema())
    e, _ = model.embedding(batch)
    seen = model.capture(batch)
    assert list(seen) == [RAW, generated_layer(0), OPERAND_A, OPERAND_B, generated_layer(1)]
    assert torch.equal(seen[RAW], e) and torch.equal(seen[generated_layer(1)], 3.0 * e)
    assert torch.equal(seen[OPERAND_A], (2.0 * e).flatten(1))  # layer 0's operand, flattened
    assert torch.equal(seen[OPERAND_B], (5.0 * e).flatten(1))  # ... and its partner, not layer 1's
    assert not any(t.requires_grad for t in seen.values())
    assert model.capture(batch).keys() == seen.keys()  # a second capture starts empty again
    with pytest.raises(ValueError, match="partner needs the generated operand"):
        model.expose_operands(partner=e)


def test_generated_layer_names_round_trip():
    assert [generated_layer(k) for k in (0, 1, 12)] == ["generated.0", "generated.1", "generated.12"]
    assert [generated_layer_index(generated_layer(k)) for k in (0, 1, 12)] == [0, 1, 12]
    for other in (GENERATED, RAW, OPERAND_A, "generated.", "generated.x", "generatedx.1", "raw.0"):
        assert generated_layer_index(other) is None


def test_sfg_refused_for_a_model_without_interaction():
    from ge4rec.errors import ConfigError
    from ge4rec.models.base import CTRModel, register_model

    @register_model("_plain_lr_for_test")
    class Plain(CTRModel):
        has_interaction = False

    try:
        with pytest.raises(ConfigError, match="no feature interaction"):
            Plain(tiny_schema(), DIM, build_paradigm(SFG))
    finally:
        from ge4rec.models.base import MODELS as registry

        registry.pop("_plain_lr_for_test")
