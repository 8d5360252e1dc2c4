"""Rotary configurations: from Hugging Face model configs and paper variants.

A :class:`RopeConfig` holds what the IR needs: the frequency allocation
(``#mrope.alloc``), the position design (``#mrope.design``), the scaling
(``#mrope.scaling``), theta, the head and rotary dims, heads and the vision
token ids. The attribute bodies are spelled in the dialect's own syntax, so
what the verifier accepts is the single source of truth.
"""

import dataclasses
import math
import json
import os
from typing import Any, Mapping, Optional, Sequence, Tuple

from . import designs
from .errors import ConfigError

# Qwen2-VL / Qwen2.5-VL / Qwen3-VL token ids (vision_start, vision_end,
# image_pad, video_pad).
QWEN_VISION_TOKENS = (151652, 151653, 151655, 151656)

# model_type -> (position design, allocation kind, reads partial_rotary_factor)
_QWEN_MODELS = {
    "qwen2_vl": ("mrope", "contiguous", False),
    "qwen2_5_vl": ("absolute_time", "contiguous", False),
    "qwen3_vl": ("qwen3vl", "interleaved", False),
    "qwen3_vl_moe": ("qwen3vl", "interleaved", False),
    "qwen3_5": ("qwen3vl", "interleaved", True),
    "qwen3_5_moe": ("qwen3vl", "interleaved", True),
}

_COMPAT = ("reference", "hf457", "hf5")

_number = designs.mlir_float


@dataclasses.dataclass(frozen=True)
class RopeConfig:
    """Everything the compiled rotary and position-ID code depends on.

    ``allocation``, ``design`` and ``scaling`` are the bodies of the
    ``#mrope.alloc``, ``#mrope.design`` and ``#mrope.scaling`` attributes,
    e.g. ``"<contiguous, section = [16, 24, 24]>"``.
    """

    head_dim: int = 128
    rotary_dim: int = 128
    theta: float = 10000.0
    allocation: str = "<contiguous, section = [16, 24, 24]>"
    design: str = "<mrope>"
    scaling: Optional[str] = None
    pairs: str = "neox"
    num_heads: Optional[int] = None
    num_kv_heads: Optional[int] = None
    spatial_merge_size: int = 2
    vision_tokens: Tuple[int, int, int, int] = QWEN_VISION_TOKENS
    float_positions: bool = False
    model_type: Optional[str] = None

    def __post_init__(self):
        for name in ("head_dim", "rotary_dim", "spatial_merge_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {value!r}")
        if self.rotary_dim % 2 or self.rotary_dim > self.head_dim:
            raise ConfigError(f"rotary_dim: must be even and at most head_dim "
                              f"({self.head_dim}), got {self.rotary_dim}")
        if not 0 < self.theta < math.inf:
            raise ConfigError(f"theta: must be positive and finite, got {self.theta!r}")
        if self.pairs not in ("neox", "gptj"):
            raise ConfigError(f"pairs: must be 'neox' or 'gptj', got {self.pairs!r}")
        for name in ("num_heads", "num_kv_heads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name}: must be a positive integer, got {value!r}")
        if self.num_heads and self.num_kv_heads and self.num_heads % self.num_kv_heads:
            raise ConfigError(f"num_heads ({self.num_heads}) must be a multiple of "
                              f"num_kv_heads ({self.num_kv_heads})")

    @property
    def position_type(self) -> str:
        """Element type of position ids: f32 for fractional designs."""
        return "f32" if self.float_positions else "i64"

    def rotary_attr(self, angles: str = "reference",
                    attention_scaling: float = 1.0) -> str:
        """The ``#mrope.rotary`` body for this config."""
        fields = [f"alloc = {self.allocation}"]
        if self.pairs != "neox":
            fields.append(f"pairs = {self.pairs}")
        fields.append(f"rotary_dim = {self.rotary_dim}")
        if attention_scaling != 1.0:
            fields.append(f"attention_scaling = {_number(attention_scaling)}")
        if angles != "reference":
            fields.append(f"angles = {angles}")
        return "<" + ", ".join(fields) + ">"

    def vision_tokens_attr(self) -> str:
        names = ("vision_start", "vision_end", "image_pad", "video_pad")
        return "<" + ", ".join(f"{n} = {v}" for n, v in zip(names, self.vision_tokens)) + ">"

    def replace(self, **changes) -> "RopeConfig":
        return dataclasses.replace(self, **changes)


def _load(config: Any) -> Mapping[str, Any]:
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read a model config from {path}: {e}") from None
    if hasattr(config, "to_dict"):  # a transformers PretrainedConfig
        return config.to_dict()
    if isinstance(config, Mapping):
        return config
    raise ConfigError(f"config: expected a dict, a path or a transformers config, "
                      f"got {type(config).__name__}")


def _int_field(where: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: must be an integer >= {minimum}, got {value!r}")
    return value


def _scaling_body(params: Mapping[str, Any], where: str, max_positions: Optional[int],
                  original_default: Optional[int] = None) -> Optional[str]:
    """``#mrope.scaling`` body from HF ``rope_parameters``/``rope_scaling``."""
    kind = params.get("rope_type", params.get("type", "default"))
    if kind in ("default", "mrope"):  # Qwen2-VL spells the default "mrope"
        return None
    if kind not in ("linear", "dynamic", "yarn", "longrope", "llama3"):
        raise ConfigError(f"{where}.rope_type: unsupported scaling {kind!r}")
    fields = [f"kind = {kind}"]
    if "factor" in params:
        fields.append(f"factor = {_number(params['factor'])}")
    if kind in ("dynamic", "yarn", "longrope"):
        if max_positions is None:
            raise ConfigError(f"max_position_embeddings: {kind} scaling needs it")
        fields.append(f"max_position_embeddings = {max_positions}")
    # transformers reads it from rope_scaling or, failing that, the config.
    original = params.get("original_max_position_embeddings", original_default)
    if original is not None and kind in ("yarn", "longrope", "llama3"):
        fields.append(f"original_max_position_embeddings = "
                      f"{_int_field(where + '.original_max_position_embeddings', original)}")
    for key in ("beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                "attention_factor", "low_freq_factor", "high_freq_factor"):
        if params.get(key) is not None:
            fields.append(f"{key} = {_number(params[key])}")
    if params.get("truncate") is False:
        fields.append("truncate = false")
    for key in ("short_factor", "long_factor"):
        if params.get(key) is not None:
            fields.append(f"{key} = [{', '.join(_number(v) for v in params[key])}]")
    return "<" + ", ".join(fields) + ">"


def from_hf(config: Any, compat: str = "reference",
            model_type: Optional[str] = None) -> RopeConfig:
    """A :class:`RopeConfig` from a Hugging Face model config.

    ``config`` is a ``config.json`` dict, its path (or the model folder), or a
    ``transformers`` config object. Supported: Qwen2-VL, Qwen2.5-VL, Qwen3-VL
    (and MoE), Qwen3.5 (and MoE), in the transformers 4.x (``rope_scaling``,
    top-level text fields) and 5.x (``text_config``, ``rope_parameters``)
    layouts. ``compat`` picks the position-ID rules of a transformers
    version: ``reference`` (4.49 and vLLM), ``hf457`` (4.52-4.57) or ``hf5``.
    """
    data = _load(config)
    if compat not in _COMPAT:
        raise ConfigError(f"compat: must be one of {', '.join(_COMPAT)}, got {compat!r}")
    model_type = model_type or data.get("model_type")
    if model_type not in _QWEN_MODELS:
        raise ConfigError(f"model_type: {model_type!r} is not a supported model "
                          f"({', '.join(sorted(_QWEN_MODELS))}); use mrope.paper() "
                          f"or RopeConfig(...) for other designs")
    design_kind, alloc_kind, reads_partial = _QWEN_MODELS[model_type]
    text = data.get("text_config") or {}
    vision = data.get("vision_config") or {}

    def field(key, default=None):
        return text.get(key, data.get(key, default))

    params_key = "rope_parameters" if field("rope_parameters") else "rope_scaling"
    params = field(params_key) or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{params_key}: must be an object, got {type(params).__name__}")
    theta = params.get("rope_theta", field("rope_theta", 10000.0))
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not 0 < theta < math.inf:
        raise ConfigError(f"rope_theta: must be a positive finite number, got {theta!r}")

    heads = _int_field("num_attention_heads", field("num_attention_heads"))
    kv_heads = _int_field("num_key_value_heads", field("num_key_value_heads", heads))
    if heads % kv_heads:
        raise ConfigError(f"num_key_value_heads: {kv_heads} does not divide "
                          f"num_attention_heads {heads}")
    head_dim = field("head_dim")
    if head_dim is None:
        head_dim = _int_field("hidden_size", field("hidden_size")) // heads
    head_dim = _int_field("head_dim", head_dim)
    rotary_dim = head_dim
    if reads_partial:
        factor = params.get("partial_rotary_factor", field("partial_rotary_factor", 1.0))
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor <= 1:
            raise ConfigError(f"partial_rotary_factor: must be in (0, 1], got {factor!r}")
        rotary_dim = int(head_dim * factor)
        if rotary_dim < 2 or rotary_dim % 2:
            raise ConfigError(f"partial_rotary_factor: head_dim {head_dim} x {factor} = "
                              f"{rotary_dim} rotated channels, which must be even")

    section = params.get("mrope_section")
    if (not isinstance(section, Sequence) or len(section) != 3 or
            not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in section)):
        raise ConfigError(f"{params_key}.mrope_section: must be 3 non-negative integers, "
                          f"got {section!r}")
    interleaved = params.get("mrope_interleaved", alloc_kind == "interleaved")
    alloc_kind = "interleaved" if interleaved else "contiguous"
    if alloc_kind == "contiguous" and sum(section) != rotary_dim // 2:
        raise ConfigError(f"{params_key}.mrope_section: {list(section)} sums to {sum(section)}, "
                          f"must equal rotary_dim / 2 = {rotary_dim // 2}")
    if alloc_kind == "interleaved" and sum(section) > rotary_dim // 2:
        raise ConfigError(f"{params_key}.mrope_section: {list(section)} sums to {sum(section)}, "
                          f"more than rotary_dim / 2 = {rotary_dim // 2}")

    design = [design_kind]
    if compat != "reference" and (compat == "hf5" or design_kind == "absolute_time"):
        design.append(f"compat = {compat}")
    if design_kind == "absolute_time":
        # Qwen2_5_VLVisionConfig's default is 4; released checkpoints say 2.
        tps = vision.get("tokens_per_second", data.get("tokens_per_second", 4))
        if isinstance(tps, bool) or not isinstance(tps, (int, float)) or not tps > 0:
            raise ConfigError(f"vision_config.tokens_per_second: must be positive, got {tps!r}")
        if tps != 2:
            design.append(f"tokens_per_second = {_number(tps)}")
    merge = _int_field("vision_config.spatial_merge_size", vision.get("spatial_merge_size", 2))

    tokens = []
    for key, default in zip(("vision_start_token_id", "vision_end_token_id",
                             "image_token_id", "video_token_id"), QWEN_VISION_TOKENS):
        tokens.append(_int_field(key, data.get(key, text.get(key, default)), 0))

    max_positions = field("max_position_embeddings")
    return RopeConfig(
        head_dim=head_dim, rotary_dim=rotary_dim, theta=float(theta),
        allocation=f"<{alloc_kind}, section = [{', '.join(str(s) for s in section)}]>",
        design="<" + ", ".join(design) + ">",
        scaling=_scaling_body(params, params_key, max_positions,
                              field("original_max_position_embeddings")),
        num_heads=heads, num_kv_heads=kv_heads, spatial_merge_size=merge,
        vision_tokens=tuple(tokens), model_type=model_type)


def paper(variant: str, dim: int, base: float = 10000.0,
          mrope_section: Optional[Sequence[int]] = None, num_heads: Optional[int] = None,
          num_key_value_heads: Optional[int] = None, **design: Any) -> RopeConfig:
    """A :class:`RopeConfig` for a paper variant, named as in the paper's code
    (``mrope``, ``mrope-interleave``, ``mhrope``, ``videorope``, ``hope``,
    ``circlerope``, ``v2pe``, ``ilrope``, ``omnirope``, ``mmrope``,
    ``vanilla-rope``; ``grape`` with ``frequency_allocation``). ``design``
    takes the variant's keyword arguments (``temporal_stride``,
    ``spatial_reset``, ``visual_stride``, ``position_scale``, CircleRoPE's
    ``radius``/``alpha``/``method``/``dff_rate``/``move_to_origin``/
    ``move_to_positive``)."""
    if variant not in designs.PAPER_VARIANTS:
        raise ConfigError(f"variant: unknown paper variant {variant!r} (one of "
                          f"{', '.join(designs.PAPER_VARIANTS)})")
    unknown = sorted(set(design) - designs.PAPER_KEYWORDS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a keyword of the paper variants (known: "
                          f"{', '.join(sorted(designs.PAPER_KEYWORDS))})")
    if designs.needs_section(variant, design) and mrope_section is None:
        raise ConfigError(f"mrope_section: variant {variant} needs it")
    if variant == "mmrope" and "position_scale" not in design:
        raise ConfigError("position_scale: variant mmrope needs it")
    return RopeConfig(head_dim=dim, rotary_dim=dim, theta=float(base),
                      allocation=designs.paper_allocation(variant, design, mrope_section),
                      design=designs.paper_design(variant, design),
                      num_heads=num_heads, num_kv_heads=num_key_value_heads,
                      float_positions=variant in designs.FLOAT_POSITION_VARIANTS,
                      model_type=f"paper:{variant}")
