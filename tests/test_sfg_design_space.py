"""The SFG design space: generator kinds, activation/gamma/bias/residual, target fields, pairs,
symmetric pairing, shared generators, and the ablation experiment configs."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hydra import compose
from omegaconf import OmegaConf

from ge4rec.cli import group_options, validate_overrides
from ge4rec.data.batches import Batch
from ge4rec.data.spec import Schema
from ge4rec.errors import ConfigError, Ge4recError
from ge4rec.models import build_model
from ge4rec.paradigms import GENERATORS, Generator, IdentityGenerator, LearnedGenerator, build_paradigm
from ge4rec.run import validate

from conftest import categorical_schema

# name -> vocabulary size; field order is table order (all categorical)
VOCAB = {"a": 7, "b": 50, "c": 3, "d": 20, "e": 11}
NUM_FIELDS, DIM = len(VOCAB), 4
KINDS = [k for k in GENERATORS if k != "identity"]


def make_batch(schema: Schema, rows: int = 6, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    values = [f.offset + torch.randint(f.vocab_size, (rows,), generator=g) for f in schema.fields]
    cat = torch.stack(values, dim=1)
    label = torch.randint(2, (rows,), generator=g).float()
    return Batch(cat.int(), torch.zeros(rows, 0), torch.zeros(rows, 0, dtype=torch.int32), label)


def sfg(**options):
    return build_paradigm({"name": "sfg", **options})


def generator(kind: str = "dense", num_fields: int = NUM_FIELDS, dim: int = DIM, **options) -> Generator:
    torch.manual_seed(0)
    return sfg(generator=kind, **options).generator(num_fields, dim, cardinalities=list(VOCAB.values()))


def model(name: str, seed: int = 0, **paradigm_options):
    torch.manual_seed(seed)
    cfg = {"name": name, "embedding_init_std": 0.1}
    if name == "dcnv2":
        cfg.update(hidden_units=[8], num_cross_layers=2, dropout=0.0)
    return build_model(cfg, categorical_schema(VOCAB), DIM, sfg(**paradigm_options))


def field_jacobian(gen: Generator) -> torch.Tensor:
    """[F, F]: entry (i, j) is sum |d z_i / d v_j| at a random point."""
    v = torch.randn(NUM_FIELDS, DIM, generator=torch.Generator().manual_seed(3))
    jac = torch.autograd.functional.jacobian(lambda x: gen(x.unsqueeze(0)).squeeze(0), v)  # [F, d, F, d]
    return jac.abs().sum(dim=(1, 3))


def expected_parameters(kind: str, f: int, d: int, bias: bool) -> int:
    width = f * d
    return {
        "dense": width * width + bias * width,
        "field_shared": width * d + bias * d,
        "own_field": f * d * d + bias * width,
        "mlp2": 2 * width * width + 2 * bias * width,
        "attention": 3 * d * d + 3 * bias * d,
        "exclude_self": width * width + bias * width,  # W stored whole; its diagonal blocks stay zero
    }[kind]


# --------------------------------------------------------------------------- generator kinds


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [False, True])
def test_generator_shape_and_parameter_count(kind, bias):
    gen = generator(kind, bias=bias)
    assert isinstance(gen, LearnedGenerator) and gen.kind == kind
    assert sum(p.numel() for p in gen.parameters()) == expected_parameters(kind, NUM_FIELDS, DIM, bias)
    v = torch.randn(3, NUM_FIELDS, DIM)
    z = gen(v)
    assert z.shape == v.shape and torch.isfinite(z).all()
    flat = gen(v.flatten(1))  # the flattened form cross networks pass
    assert flat.shape == (3, NUM_FIELDS * DIM)
    torch.testing.assert_close(flat, z.flatten(1))


def test_dense_parameter_count_matches_the_paper():
    # (F*d)^2: 147,456 for F=24, d=16 (Avazu_x4) and 152,100 for F=39, d=10 (Criteo_x1)
    assert sum(p.numel() for p in generator("dense", 24, 16).parameters()) == 147_456
    assert sum(p.numel() for p in generator("dense", 39, 10).parameters()) == 152_100


def test_dense_generates_every_field_from_every_field():
    blocks = field_jacobian(generator("dense", activation="identity"))
    assert (blocks > 0).all()


def test_exclude_self_field_does_not_see_itself():
    for options in ({"activation": "identity"}, {"activation": "relu", "bias": True}):
        blocks = field_jacobian(generator("exclude_self", **options))
        assert (blocks.diagonal() == 0).all()
    blocks = field_jacobian(generator("exclude_self", activation="identity"))
    off_diagonal = ~torch.eye(NUM_FIELDS, dtype=torch.bool)
    assert (blocks[off_diagonal] > 0).all()


def test_exclude_self_masked_blocks_get_no_gradient():
    gen = generator("exclude_self")
    gen(torch.randn(8, NUM_FIELDS, DIM)).pow(2).sum().backward()
    weight, grad = gen.linear.weight, gen.linear.weight.grad
    for i in range(NUM_FIELDS):
        rows = slice(i * DIM, (i + 1) * DIM)
        for j in range(NUM_FIELDS):
            block = grad[rows, j * DIM : (j + 1) * DIM]
            if i == j:
                assert (weight[rows, rows] == 0).all() and (block == 0).all()
            else:  # every other field's block learns
                assert (block != 0).any(), (i, j)


def test_own_field_sees_only_its_own_field():
    blocks = field_jacobian(generator("own_field", activation="identity"))
    off_diagonal = ~torch.eye(NUM_FIELDS, dtype=torch.bool)
    assert (blocks[off_diagonal] == 0).all()
    assert (blocks.diagonal() > 0).all()


def test_own_field_equals_per_field_maps():
    gen = generator("own_field", activation="identity", bias=True)
    with torch.no_grad():
        gen.bias.normal_()
    v = torch.randn(4, NUM_FIELDS, DIM)
    expected = torch.stack([v[:, i] @ gen.weight[i] + gen.bias[i] for i in range(NUM_FIELDS)], dim=1)
    torch.testing.assert_close(gen(v), expected)


def test_field_shared_reuses_one_vector():
    z = generator("field_shared")(torch.randn(4, NUM_FIELDS, DIM))
    torch.testing.assert_close(z, z[:, :1].expand_as(z))
    # with the residual each field adds its own embedding to the one shared vector
    v = torch.randn(4, NUM_FIELDS, DIM)
    shared = generator("field_shared", residual=False)(v)
    torch.testing.assert_close(generator("field_shared", residual=True)(v), shared + v)


def test_mlp2_is_two_stacked_layers():
    gen = generator("mlp2", activation="tanh", gamma=2.0)
    v = torch.randn(4, NUM_FIELDS, DIM)
    hidden = torch.tanh(v.flatten(1) @ gen.first.weight.T)
    torch.testing.assert_close(gen(v).flatten(1), 2.0 * torch.tanh(hidden @ gen.second.weight.T))


def test_attention_mixes_fields_and_is_permutation_equivariant():
    gen = generator("attention", activation="identity")
    v = torch.randn(4, NUM_FIELDS, DIM)
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(gen(v[:, perm]), gen(v)[:, perm])
    assert (field_jacobian(gen) > 0).all()
    query, key, value = gen.qkv(v).split(DIM, dim=-1)
    weights = torch.softmax(query @ key.transpose(1, 2) / DIM**0.5, dim=-1)
    torch.testing.assert_close(gen(v), weights @ value)


# --------------------------------------------------------------------- activation, gamma, bias

ACTIVATION_FUNCTIONS = {
    "relu": torch.relu,
    "identity": lambda x: x,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "silu": F.silu,
}


@pytest.mark.parametrize("name", ACTIVATION_FUNCTIONS)
def test_activation_and_gamma(name):
    gen = generator("dense", activation=name, gamma=2.5)
    v = torch.randn(4, NUM_FIELDS, DIM)
    expected = 2.5 * ACTIVATION_FUNCTIONS[name](v.flatten(1) @ gen.linear.weight.T)
    torch.testing.assert_close(gen(v).flatten(1), expected)
    residual = generator("dense", activation=name, gamma=2.5, residual=True)
    torch.testing.assert_close(residual(v).flatten(1), expected + v.flatten(1))


def test_bias_and_residual_default():
    gen = generator("dense", bias=True, activation="identity")
    with torch.no_grad():
        gen.linear.bias.fill_(0.5)
    v = torch.randn(2, NUM_FIELDS, DIM)
    torch.testing.assert_close(gen(v).flatten(1), v.flatten(1) @ gen.linear.weight.T + 0.5)
    # residual: null defers to the model (on for cross networks), an explicit value wins
    assert sfg().generator(NUM_FIELDS, DIM, residual_default=True).residual
    assert not sfg(residual=False).generator(NUM_FIELDS, DIM, residual_default=True).residual
    assert sfg(residual=True).generator(NUM_FIELDS, DIM).residual


def test_disc_is_identity_whatever_the_sfg_options():
    disc = build_paradigm(
        {
            "name": "disc",
            "generator": "mlp2",
            "activation": "tanh",
            "targets": "random",
            "num_targets": 2,
            "gamma": 3.0,
        }
    )
    assert isinstance(disc.generator(NUM_FIELDS, DIM), IdentityGenerator)
    assert isinstance(sfg(generator="identity").generator(NUM_FIELDS, DIM), IdentityGenerator)


# ----------------------------------------------------------------------------- target fields


def test_targets_highest_and_lowest_cardinality():
    cards = list(VOCAB.values())  # a=7 b=50 c=3 d=20 e=11
    assert sfg(targets="high_cardinality", num_targets=2).target_fields(NUM_FIELDS, cards) == [1, 3]
    assert sfg(targets="low_cardinality", num_targets=2).target_fields(NUM_FIELDS, cards) == [0, 2]
    assert sfg(targets="high_cardinality", num_targets=0.6).target_fields(NUM_FIELDS, cards) == [1, 3, 4]
    every = sfg(targets="low_cardinality", num_targets=NUM_FIELDS).target_fields(NUM_FIELDS, cards)
    assert every == [0, 1, 2, 3, 4]
    assert sfg().target_fields(NUM_FIELDS, cards) is None
    # ties go to the earlier field
    assert sfg(targets="high_cardinality", num_targets=2).target_fields(4, [5, 9, 5, 9]) == [1, 3]


def test_random_targets_are_reproducible_by_seed():
    def draw(seed, global_seed):
        torch.manual_seed(global_seed)
        return sfg(targets="random", num_targets=3, target_seed=seed).target_fields(12)

    first = draw(0, 1)
    assert len(first) == 3 and len(set(first)) == 3 and all(0 <= i < 12 for i in first)
    assert draw(0, 2) == first  # independent of the global random state
    assert {tuple(draw(seed, 1)) for seed in range(5)} != {tuple(first)}  # the seed matters


@pytest.mark.parametrize("kind", KINDS)
def test_non_target_fields_keep_raw_embeddings(kind):
    net = model("fm", generator=kind, targets="high_cardinality", num_targets=2, residual=True)
    assert net.generator.targets == [1, 3]  # b (50 values) and d (20), read from the model's schema
    e, _ = net.embedding(make_batch(net.schema))
    z = net.generator(e)
    others = [0, 2, 4]
    assert torch.equal(z[:, others], e[:, others])
    assert not torch.allclose(z[:, [1, 3]], e[:, [1, 3]])


def test_every_layer_generates_the_same_targets():
    net = model("dcnv2", targets="random", num_targets=2, target_seed=7)
    chosen = {tuple(g.targets) for g in net.generators}
    assert len(chosen) == 1 and len(chosen.pop()) == 2


def test_num_targets_above_the_field_count_fails_at_build():
    with pytest.raises(ConfigError, match=r"paradigm\.num_targets: 6 \(expected 1\.\.5"):
        model("fm", targets="low_cardinality", num_targets=6)


def test_cardinality_targets_need_cardinalities():
    with pytest.raises(ConfigError, match="paradigm.targets=high_cardinality"):
        sfg(targets="high_cardinality", num_targets=1).generator(NUM_FIELDS, DIM)


# ------------------------------------------------------------------ pairs, symmetric, sharing


def fm_parts(net, batch):
    e, linear = net.embedding(batch)
    return e, net.generator(e), net.first_order(linear)


def test_pairs_all_equals_the_double_loop_over_ordered_pairs():
    batch = make_batch(categorical_schema(VOCAB))
    for symmetric in (False, True):
        net = model("fm", pairs="all", symmetric=symmetric)
        e, z, first = fm_parts(net, batch)
        other = z if symmetric else e
        loop = sum((z[:, i] * other[:, j]).sum(-1) for i in range(NUM_FIELDS) for j in range(NUM_FIELDS))
        torch.testing.assert_close(net(batch), first + loop)


def test_pairs_i_less_than_j_equals_the_double_loop():
    batch = make_batch(categorical_schema(VOCAB))
    net = model("fm")
    e, z, first = fm_parts(net, batch)
    loop = sum((z[:, i] * e[:, j]).sum(-1) for i in range(NUM_FIELDS) for j in range(i + 1, NUM_FIELDS))
    torch.testing.assert_close(net(batch), first + loop)


def test_symmetric_pairs_generated_with_generated():
    batch = make_batch(categorical_schema(VOCAB))
    plain, symmetric = model("fm", seed=5), model("fm", seed=5, symmetric=True)
    assert not torch.allclose(plain(batch), symmetric(batch))
    _, z, first = fm_parts(symmetric, batch)
    loop = sum((z[:, i] * z[:, j]).sum(-1) for i in range(NUM_FIELDS) for j in range(i + 1, NUM_FIELDS))
    torch.testing.assert_close(symmetric(batch), first + loop)
    raw, generated = torch.randn(2, 3), torch.randn(2, 3)
    assert symmetric.paradigm.partner(raw, generated) is generated
    assert plain.paradigm.partner(raw, generated) is raw


def test_share_generator_gives_dcnv2_one_set_of_parameters():
    width = NUM_FIELDS * DIM
    per_layer, shared = model("dcnv2"), model("dcnv2", share_generator=True)
    assert len({id(g) for g in per_layer.generators}) == 2
    assert per_layer.generator_parameters() == 2 * width * width
    assert len(shared.generators) == 2 and len({id(g) for g in shared.generators}) == 1
    assert shared.generator_parameters() == width * width
    total = sum(p.numel() for p in per_layer.parameters())
    assert sum(p.numel() for p in shared.parameters()) == total - width * width


# -------------------------------------------------------------------------------- training


@pytest.mark.parametrize("name", ["fm", "dcnv2"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_generator_kind_trains(name, kind):
    net = model(name, generator=kind)
    layers = 2 if name == "dcnv2" else 1  # model() gives DCNv2 two cross layers
    assert net.generator_parameters() == layers * expected_parameters(kind, NUM_FIELDS, DIM, bias=False)
    batch = make_batch(net.schema, rows=16)
    loss = F.binary_cross_entropy_with_logits(net(batch), batch.label)
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    generated = [p for m in net.modules() if isinstance(m, Generator) for p in m.parameters()]
    assert generated and all(p.grad.abs().sum() > 0 for p in generated)


# ------------------------------------------------------------------------ invalid options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"generator": "conv"}, r"paradigm\.generator: 'conv' \(expected one of identity, dense, field_sh"),
        ({"activation": "softplus"}, r"paradigm\.activation: 'softplus' \(expected one of relu, identity"),
        ({"targets": "some"}, r"paradigm\.targets: 'some' \(expected one of all, high_cardinality"),
        ({"targets": "random"}, r"paradigm\.num_targets: required with paradigm\.targets=random"),
        ({"targets": "random", "num_targets": 0}, r"paradigm\.num_targets: 0"),
        ({"targets": "random", "num_targets": -2}, r"paradigm\.num_targets: -2"),
        ({"targets": "random", "num_targets": 1.5}, r"paradigm\.num_targets: 1\.5"),
        ({"targets": "random", "num_targets": "three"}, r"paradigm\.num_targets: 'three'"),
        ({"target_seed": "x"}, r"paradigm\.target_seed"),
        ({"gamma": "big"}, r"paradigm\.gamma"),
        ({"symmetric": "maybe"}, r"paradigm\.symmetric"),
        ({"pairs": "i<=j"}, r"paradigm\.pairs: 'i<=j' \(expected one of i<j, all\)"),
    ],
)
def test_invalid_options_raise_config_error(options, message):
    for name in ("sfg", "disc"):
        with pytest.raises(ConfigError, match=message) as info:
            build_paradigm({"name": name, **options})
        assert "\n" not in str(info.value)


def test_cli_rejects_invalid_options_with_exit_code_2(capsys):
    from ge4rec.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "paradigm.generator=conv"])
    assert exit_info.value.code == 2
    assert "paradigm.generator: 'conv'" in capsys.readouterr().err


# ------------------------------------------------------------------------------- configs


def test_disc_carries_every_sfg_key(hydra_configs):
    disc = compose(config_name="train", overrides=["paradigm=disc"]).paradigm
    sfg_cfg = compose(config_name="train", overrides=["paradigm=sfg"]).paradigm
    assert set(disc) == set(sfg_cfg)
    assert {
        "generator",
        "activation",
        "gamma",
        "bias",
        "residual",
        "pairs",
        "symmetric",
        "share_generator",
        "source",
        "targets",
        "num_targets",
        "target_seed",
    } <= set(sfg_cfg)
    build_paradigm(disc), build_paradigm(sfg_cfg)


# the DCNv2 ablation sweeps (the paper experiments have tests of their own in test_experiments.py)
EXPERIMENTS = [e for e in group_options("experiment") if e.startswith("ablation_")]


def test_the_paper_ablations_ship():
    paper = {"ablation_generator", "ablation_activation", "ablation_source", "ablation_target"}
    assert paper <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_config_composes_and_every_sweep_point_builds(experiment, hydra_configs):
    cfg = compose(config_name="train", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    assert cfg.model.name == "dcnv2" and cfg.paradigm.name == "sfg"
    params = dict(cfg.hydra.sweeper.params)
    assert params, "an experiment is a multirun: it needs hydra.sweeper.params"
    grid = [[f"{key}={value}" for value in str(values).split(",")] for key, values in params.items()]
    swept = [g for g in grid if not g[0].startswith("seed=")]
    schema = categorical_schema(VOCAB)
    for point in itertools.product(*swept):
        job = compose(config_name="train", overrides=[f"experiment={experiment}", *point])
        validate(job)
        net = build_model(OmegaConf.to_container(job.model), schema, DIM, build_paradigm(job.paradigm))
        assert torch.isfinite(net(make_batch(schema))).all(), point
    validate_overrides([f"experiment={experiment}", "dataset=movielens100k"])  # what `ge4rec train` checks


def test_unknown_experiment_is_rejected():
    with pytest.raises(Ge4recError, match="unknown experiment 'nope'"):
        validate_overrides(["experiment=nope"])
