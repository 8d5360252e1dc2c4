"""Hugging Face configs -> RopeConfig -> IR, and config errors."""

import copy

import pytest

import mrope
from hf_configs import QWEN2_5_VL_7B, QWEN2_VL_7B, QWEN3_5_27B, QWEN3_VL_8B


@pytest.mark.parametrize("raw, allocation, design, head_dim, rotary_dim, theta, heads", [
    (QWEN2_VL_7B, "<contiguous, section = [16, 24, 24]>", "<mrope>", 128, 128, 1e6, (28, 4)),
    (QWEN2_5_VL_7B, "<contiguous, section = [16, 24, 24]>", "<absolute_time>", 128, 128, 1e6,
     (28, 4)),
    (QWEN3_VL_8B, "<interleaved, section = [24, 20, 20]>", "<qwen3vl>", 128, 128, 5e6, (32, 8)),
    (QWEN3_5_27B, "<interleaved, section = [11, 11, 10]>", "<qwen3vl>", 256, 64, 1e7, (24, 4)),
])
def test_from_hf(raw, allocation, design, head_dim, rotary_dim, theta, heads):
    config = mrope.from_hf(raw)
    assert config.allocation == allocation
    assert config.design == design
    assert (config.head_dim, config.rotary_dim, config.theta) == (head_dim, rotary_dim, theta)
    assert (config.num_heads, config.num_kv_heads) == heads
    assert config.scaling is None
    # The IR the config produces compiles (the verifier accepts every field).
    assert mrope.inv_freq(config).shape == (rotary_dim // 2,)


def test_from_hf_compat_and_tokens_per_second():
    raw = copy.deepcopy(QWEN2_5_VL_7B)
    raw["vision_config"]["tokens_per_second"] = 4
    assert mrope.from_hf(raw, compat="hf457").design == \
        "<absolute_time, compat = hf457, tokens_per_second = 4.0>"
    assert mrope.from_hf(QWEN2_VL_7B, compat="hf5").design == "<mrope, compat = hf5>"
    # HF 4.52-4.57 differ from 4.49 only for Qwen2.5-VL's absolute time.
    assert mrope.from_hf(QWEN2_VL_7B, compat="hf457").design == "<mrope>"


def test_from_hf_path(tmp_path):
    import json
    (tmp_path / "config.json").write_text(json.dumps(QWEN3_VL_8B))
    assert mrope.from_hf(str(tmp_path)) == mrope.from_hf(QWEN3_VL_8B)


def test_qwen35_partial_rotary_only_for_qwen35():
    # Qwen3-VL ignores partial_rotary_factor (SPEC 3.1); Qwen3.5 reads it.
    raw = copy.deepcopy(QWEN3_VL_8B)
    raw["text_config"]["partial_rotary_factor"] = 0.5
    assert mrope.from_hf(raw).rotary_dim == 128


def _with(raw, path, value):
    raw = copy.deepcopy(raw)
    node = raw
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


@pytest.mark.parametrize("raw, field", [
    (_with(QWEN2_VL_7B, ["model_type"], "llama"), "model_type"),
    (_with(QWEN2_VL_7B, ["rope_scaling", "mrope_section"], [16, 24, 23]), "mrope_section"),
    (_with(QWEN2_VL_7B, ["rope_scaling", "mrope_section"], [16, 24]), "mrope_section"),
    (_with(QWEN2_VL_7B, ["rope_scaling", "mrope_section"], KeyError), "mrope_section"),
    (_with(QWEN2_VL_7B, ["rope_scaling", "mrope_section"], [16, -1, 49]), "mrope_section"),
    (_with(QWEN2_VL_7B, ["rope_theta"], -1.0), "rope_theta"),
    (_with(QWEN2_VL_7B, ["rope_theta"], "big"), "rope_theta"),
    (_with(QWEN2_VL_7B, ["rope_theta"], float("inf")), "rope_theta"),
    (_with(QWEN2_VL_7B, ["num_attention_heads"], 0), "num_attention_heads"),
    (_with(QWEN2_VL_7B, ["num_attention_heads"], KeyError), "num_attention_heads"),
    (_with(QWEN2_VL_7B, ["num_key_value_heads"], 5), "num_key_value_heads"),
    (_with(QWEN2_VL_7B, ["rope_scaling"], "mrope"), "rope_scaling"),
    (_with(QWEN2_VL_7B, ["rope_scaling", "type"], "ntk-by-parts"), "rope_type"),
    (_with(QWEN2_VL_7B, ["vision_config", "spatial_merge_size"], 0), "spatial_merge_size"),
    (_with(QWEN2_VL_7B, ["image_token_id"], -3), "image_token_id"),
    (_with(QWEN2_5_VL_7B, ["vision_config", "tokens_per_second"], 0), "tokens_per_second"),
    (_with(QWEN3_VL_8B, ["text_config", "rope_scaling", "mrope_section"], [24, 40, 20]),
     "mrope_section"),
    (_with(QWEN3_5_27B, ["text_config", "rope_parameters", "partial_rotary_factor"], 1.5),
     "partial_rotary_factor"),
    (_with(QWEN3_5_27B, ["text_config", "rope_parameters", "partial_rotary_factor"], 0.0039),
     "partial_rotary_factor"),
])
def test_from_hf_errors_name_the_field(raw, field):
    with pytest.raises(mrope.ConfigError, match=field):
        mrope.from_hf(raw)


def test_from_hf_bad_arguments():
    with pytest.raises(mrope.ConfigError, match="compat"):
        mrope.from_hf(QWEN2_VL_7B, compat="hf999")
    with pytest.raises(mrope.ConfigError, match="config"):
        mrope.from_hf(42)
    with pytest.raises(mrope.ConfigError, match="cannot read"):
        mrope.from_hf("/nonexistent/config.json")


@pytest.mark.parametrize("changes, field", [
    ({"rotary_dim": 130}, "rotary_dim"), ({"rotary_dim": 7}, "rotary_dim"),
    ({"head_dim": 0}, "head_dim"), ({"theta": 0.0}, "theta"), ({"theta": float("inf")}, "theta"),
    ({"theta": float("nan")}, "theta"), ({"pairs": "llama"}, "pairs"),
    ({"num_heads": 6, "num_kv_heads": 4}, "num_kv_heads"),
])
def test_rope_config_rules(changes, field):
    with pytest.raises(mrope.ConfigError, match=field):
        mrope.RopeConfig(**changes)


def test_invalid_attribute_bodies_fail_with_diagnostics():
    config = mrope.RopeConfig(allocation="<contiguous, section = [16, 24]>")
    with pytest.raises(mrope.CompileError, match="section"):
        mrope.apply_rotary(config, *_small_qk(), _positions(4))
    with pytest.raises(mrope.ConfigError, match="bogus"):
        mrope.attention_scaling(mrope.RopeConfig(scaling="<kind = yarn, bogus = 1.0>"))


def test_paper_variants_build():
    config = mrope.paper("mhrope", dim=128, mrope_section=[2, 3, 3], num_key_value_heads=8)
    assert config.allocation == "<head_partitioned, section = [2, 3, 3]>"
    assert mrope.paper("mmrope", dim=16, position_scale=[1, 2, 2]).float_positions
    with pytest.raises(mrope.ConfigError, match="variant"):
        mrope.paper("ropeX", dim=16)
    with pytest.raises(mrope.ConfigError, match="mrope_section"):
        mrope.paper("mrope", dim=16)
    with pytest.raises(mrope.ConfigError, match="position_scale"):
        mrope.paper("mmrope", dim=16)


def _small_qk():
    import numpy as np
    return np.ones((1, 2, 4, 128), np.float32), np.ones((1, 2, 4, 128), np.float32)


def _positions(n):
    import numpy as np
    return np.zeros((3, 1, n), np.int64)


@pytest.mark.parametrize("value", [1e30, 1e-05, 2.5e-8, 1e6, 10000.0, 0.1, 3.0])
def test_numbers_are_written_as_mlir_floats(value):
    # MLIR needs a '.' before an exponent: repr's '1e+30' does not parse.
    from mrope.designs import mlir_float
    text = mlir_float(value)
    mantissa = text.partition("e")[0]
    assert "." in mantissa and float(text) == value
