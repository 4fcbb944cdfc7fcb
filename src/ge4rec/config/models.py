"""The `model` block of each base model: one dataclass per model, its keyword arguments.

`model=NAME` composes configs/model/NAME.yaml on top of MODEL_SCHEMAS[NAME]; build_model passes
every key but `name` to the model class as keyword arguments, whose defaults equal these.
"""

from dataclasses import dataclass

from omegaconf import MISSING

from ge4rec.config.rules import integer, integers, number, one_of, option
from ge4rec.config.schema import registry_names
from ge4rec.errors import ConfigError

LAYER_ACTIVATIONS = registry_names("ge4rec.models.layers", "ACTIVATIONS")
CROSS_STRUCTURES = ("parallel", "stacked", "crossnet")
CROSS_VARIANTS = ("stock", "reference")
FMFM_INTERACTIONS = ("matrix", "vector")
FWFM_LINEAR_TYPES = ("lw", "felv", "filv")
BILINEAR_TYPES = ("field_all", "field_each", "field_interaction")


def hidden_units(*units: int):
    """DNN layer widths ([]: no DNN where a model allows it)."""
    return integers(list(units))


def dropout(rate: float):
    return number(rate, low=0, high=1, high_open=True)


def activation(name: str = "relu"):
    """relu | identity (= linear) | sigmoid | tanh | silu | gelu | prelu"""
    return one_of(name, LAYER_ACTIVATIONS, ignore_case=True)


def init_std():
    """The std of the embedding table's normal(0, std) start."""
    return number(1.0e-4, low=0, low_open=True)


@dataclass
class ModelConfig:
    """What every model block has: `name` (the registered model) and `embedding_init_std`."""

    name: str = MISSING
    embedding_init_std: float = init_std()

    @classmethod
    def check(cls, node, where: str) -> None:
        own = cls.__dataclass_fields__["name"].default
        if node.name != own:
            raise ConfigError(
                f"{where}.name: '{node.name}' (this block configures model '{own}'; "
                f"choose another model with model={node.name})"
            )


@dataclass
class DNNOptions(ModelConfig):
    """The dropout, batch norm and activation of a model's DNN."""

    dropout: float = dropout(0.2)
    batch_norm: bool = False
    activation: str = activation()


@dataclass
class DNNModelConfig(DNNOptions):
    """A model with a DNN of `hidden_units` layers."""

    hidden_units: list[int] = hidden_units(400, 400, 400)


@dataclass
class CINModelConfig(ModelConfig):
    """A model with xDeepFM's Compressed Interaction Network."""

    # feature maps per CIN layer; SFG uses one generator per layer
    cin_layer_units: list[int] = integers([64, 64, 64], non_empty=True)
    # true: half of each hidden layer's maps go to the output (the authors' code)
    split_half: bool = False
    cin_activation: str = activation("identity")

    @classmethod
    def check(cls, node, where: str) -> None:
        """With split_half, every CIN layer but the last hands half its maps on: an even count."""
        super().check(node, where)
        if node.split_half:
            for k, size in enumerate(node.cin_layer_units[:-1]):
                if size % 2:
                    raise ConfigError(
                        f"{where}.cin_layer_units: {size} must be even with split_half (layer {k})"
                    )


@dataclass
class CrossModelConfig(ModelConfig):
    """A model with a cross network."""

    # SFG uses one generator per cross layer
    num_cross_layers: int = integer(3)


def cross_structure():
    """parallel (the DNN beside the cross network) | stacked (on top) | crossnet (the cross network alone)"""
    return one_of("parallel", CROSS_STRUCTURES)


def cross_variant():
    """stock: biased crosses, linear head; reference: bias-free crosses, 2-layer head"""
    return one_of("stock", CROSS_VARIANTS)


@dataclass
class LRConfig(ModelConfig):
    """Logistic regression: one weight per feature value. Disc only (no interaction for SFG)."""

    name: str = "lr"


@dataclass
class FMConfig(ModelConfig):
    """FM: LR + the pairwise inner products of the field embeddings."""

    name: str = "fm"


@dataclass
class FwFMConfig(ModelConfig):
    """FwFM: FM with one learned weight r_ij per field pair."""

    name: str = "fwfm"
    # lw: a weight per value; felv: a d-vector per value, <e_i, w(x_i)>; filv: a d-vector per
    # field, <e_i, w_F(i)>
    linear_type: str = one_of("lw", FWFM_LINEAR_TYPES)


@dataclass
class FmFMConfig(ModelConfig):
    """FmFM (FM^2): a d x d matrix per field pair, <e_i M_ij, e_j>; SFG: <e_i M_ij, z_j>."""

    name: str = "fmfm"
    # matrix: FmFM; vector: FvFM (a diagonal M per pair)
    interaction: str = one_of("matrix", FMFM_INTERACTIONS)


@dataclass
class DNNConfig(DNNModelConfig):
    """An MLP over the concatenated field embeddings. Disc only (no explicit interaction for SFG)."""

    name: str = "dnn"


@dataclass
class WideDeepConfig(DNNModelConfig):
    """Wide & Deep: LR + MLP over the embeddings. Disc only (no explicit interaction for SFG)."""

    name: str = "widedeep"


@dataclass
class DeepFMConfig(DNNModelConfig):
    """DeepFM: FM and a DNN over the same embeddings."""

    name: str = "deepfm"


@dataclass
class IPNNConfig(DNNModelConfig):
    """IPNN: MLP over [flatten e ; pairwise inner products]."""

    name: str = "ipnn"


@dataclass
class XDeepFMConfig(CINModelConfig, DNNModelConfig):
    """xDeepFM: LR + Compressed Interaction Network + DNN (BARS MovielensLatest_x1 settings);
    hidden_units=[]: the CIN alone (see model=cin)."""

    name: str = "xdeepfm"
    dropout: float = dropout(0.3)


@dataclass
class CINConfig(CINModelConfig):
    """CIN: LR + xDeepFM's Compressed Interaction Network, without the DNN."""

    name: str = "cin"


@dataclass
class CrossNetConfig(CrossModelConfig):
    """CrossNet: DCN-V2's cross network alone, with a linear head."""

    name: str = "crossnet"
    variant: str = cross_variant()


@dataclass
class DCNConfig(CrossModelConfig, DNNModelConfig):
    """DCN: the rank-one cross network x0 x_l^T w_l + b_l + x_l in parallel with a DNN."""

    name: str = "dcn"


@dataclass
class DCNv2Config(CrossModelConfig, DNNModelConfig):
    """DCNv2: the full-rank cross network with a DNN beside it (parallel) or on top (stacked)."""

    name: str = "dcnv2"
    structure: str = cross_structure()
    variant: str = cross_variant()


@dataclass
class GDCNConfig(CrossModelConfig, DNNModelConfig):
    """GDCN: gated cross network (c0 * (W c_l + b) * sigmoid(G c_l) + c_l) with a DNN;
    structure: parallel (GDCN-P) | stacked (GDCN-S) | crossnet."""

    name: str = "gdcn"
    structure: str = cross_structure()


@dataclass
class AutoIntConfig(DNNOptions):
    """AutoInt: stacked multi-head self-attention over the fields (the paper's settings)."""

    name: str = "autoint"
    attention_layers: int = integer(3)
    num_heads: int = integer(2)
    # per head
    attention_dim: int = integer(32)
    residual: bool = True
    # divide attention scores by sqrt(attention_dim)
    scaled: bool = False
    layer_norm: bool = False
    # add an LR term
    use_wide: bool = False
    # non-empty: AutoInt+ (see model=autoint_plus)
    dnn_hidden_units: list[int] = hidden_units()
    dropout: float = dropout(0.0)


@dataclass
class AutoIntPlusConfig(AutoIntConfig):
    """AutoInt+: AutoInt's attention layers with a parallel DNN. BARS MovielensLatest_x1 settings,
    but without batch norm in the DNN (on MovieLens 100K it cost AUC and left the checkpoint
    badly calibrated)."""

    name: str = "autoint_plus"
    attention_layers: int = integer(2)
    num_heads: int = integer(4)
    scaled: bool = True
    layer_norm: bool = True
    use_wide: bool = True
    dnn_hidden_units: list[int] = hidden_units(400, 400, 400)
    dropout: float = dropout(0.1)


@dataclass
class FiBiNETConfig(DNNModelConfig):
    """FiBiNET: SENET field weights + bilinear interactions on e and on the re-weighted e, then a DNN."""

    name: str = "fibinet"
    # field_all | field_each | field_interaction
    bilinear_type: str = one_of("field_interaction", BILINEAR_TYPES)
    # SENET squeezes the F fields to max(1, F / reduction_ratio) units
    reduction_ratio: int = integer(3)


@dataclass
class FinalMLPConfig(ModelConfig):
    """FinalMLP: two gated MLP streams fused by a multi-head bilinear layer. Widths, dropout,
    gates and heads: BARS MovielensLatest_x1; batch norm off as in the authors' template (on
    MovieLens 100K it left the AUC-selected checkpoint badly calibrated)."""

    name: str = "finalmlp"
    mlp1_hidden_units: list[int] = integers([400], non_empty=True)
    mlp1_dropout: float = dropout(0.4)
    mlp1_batch_norm: bool = False
    mlp2_hidden_units: list[int] = integers([800], non_empty=True)
    mlp2_dropout: float = dropout(0.2)
    mlp2_batch_norm: bool = False
    activation: str = activation()
    # stream-specific feature gating
    use_fs: bool = True
    fs_hidden_units: list[int] = hidden_units(800)
    # field names whose embeddings drive stream 1's gate ([]: a learned vector)
    fs1_context: list[str] = option([])
    fs2_context: list[str] = option([])
    # must divide both stream widths (the last layer of each stream)
    num_heads: int = integer(10)

    @classmethod
    def check(cls, node, where: str) -> None:
        super().check(node, where)
        widths = (node.mlp1_hidden_units[-1], node.mlp2_hidden_units[-1])
        if any(width % node.num_heads for width in widths):
            raise ConfigError(
                f"{where}.num_heads: {node.num_heads} must divide both stream widths {widths} "
                f"(the last of {where}.mlp1_hidden_units and {where}.mlp2_hidden_units)"
            )


MODEL_SCHEMAS: dict[str, type] = {
    str(schema.__dataclass_fields__["name"].default): schema
    for schema in (
        LRConfig,
        FMConfig,
        FwFMConfig,
        FmFMConfig,
        DNNConfig,
        WideDeepConfig,
        DeepFMConfig,
        IPNNConfig,
        XDeepFMConfig,
        CINConfig,
        CrossNetConfig,
        DCNConfig,
        DCNv2Config,
        GDCNConfig,
        AutoIntConfig,
        AutoIntPlusConfig,
        FiBiNETConfig,
        FinalMLPConfig,
    )
}
