"""Paper-variant position designs and allocations, as the bodies of the
dialect's ``#mrope.design`` and ``#mrope.alloc`` attributes.

Self-contained (no imports from the package): mrope-conform loads this file
directly, so the conformance runner and the Python API spell every variant
the same way.
"""

# Variant (as named in the paper's code) -> allocation; {s} is mrope_section.
PAPER_ALLOCATIONS = {
    "vanilla-rope": "<vanilla>",
    "mrope": "<contiguous, section = {s}>",
    "mrope-interleave": "<interleaved, section = {s}>",
    "mhrope": "<head_partitioned, section = {s}>",
    "videorope": "<videorope, section = {s}>",
    "hope": "<hope, section = {s}>",
    "circlerope": "<contiguous, section = {s}>",
    "v2pe": "<vanilla>",
    "ilrope": "<interleaved, section = {s}>",
    "omnirope": "<contiguous, section = {s}>",
    "mmrope": "<mmrope>",
}
PAPER_VARIANTS = tuple(sorted(PAPER_ALLOCATIONS)) + ("grape",)

# Variants whose positions are fractional (f32).
FLOAT_POSITION_VARIANTS = ("videorope", "hope", "circlerope", "v2pe", "ilrope", "omnirope",
                           "mmrope")

# The paper variants checked through `mrope.rope_index` (runtime designs) as
# well as through the folded position construction (mrope-conform,
# iree-check): the paper's mrope and GRAPE apply Qwen2-VL rules to per-frame
# input, which the Qwen2-VL design does not split.
RUNTIME_PAPER_DESIGNS = ("vanilla-rope", "mrope-interleave", "mhrope", "videorope", "hope",
                         "v2pe", "ilrope", "omnirope", "mmrope", "circlerope")

# Keyword arguments of the paper's embedding classes that shape positions or
# the allocation.
PAPER_KEYWORDS = frozenset({
    "temporal_stride", "spatial_reset", "visual_stride", "position_scale", "radius", "alpha",
    "method", "dff_rate", "move_to_origin", "move_to_positive", "frequency_allocation",
    # HoPE draws its per-block scale from this list at random; with per-frame
    # blocks the draw has no effect (SPEC 2.6.4).
    "temporal_stride_lst"})


def mlir_float(value) -> str:
    """A finite float in MLIR's syntax, which needs a '.' before an exponent
    (repr gives '1e+30' for 1e30; MLIR reads '1.0e+30')."""
    text = repr(float(value))
    mantissa, exponent_mark, exponent = text.partition("e")
    if exponent_mark and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def needs_section(variant: str, kw) -> bool:
    if variant == "grape":
        return kw.get("frequency_allocation") != "interleaved"
    return "{s}" in PAPER_ALLOCATIONS.get(variant, "")


def paper_allocation(variant: str, kw, section) -> str:
    """``#mrope.alloc`` body; ``section`` is required when needs_section()."""
    if variant == "grape" and kw.get("frequency_allocation") == "interleaved":
        return "<grape_interleaved>"
    template = ("<contiguous, section = {s}>" if variant == "grape"
                else PAPER_ALLOCATIONS[variant])
    return template.format(s="[" + ", ".join(str(int(s)) for s in section or []) + "]")


def paper_design(variant: str, kw) -> str:
    """``#mrope.design`` body of a paper variant with its keyword arguments.
    MM-RoPE needs ``position_scale`` (KeyError otherwise)."""
    stride = kw.get("temporal_stride", 1.0)
    stride_field = f", temporal_stride = {mlir_float(stride)}" if stride != 1.0 else ""
    if variant == "vanilla-rope":
        return "<vanilla>"
    if variant in ("mrope", "grape"):
        stride = kw.get("temporal_stride", 2.0)
        return "<mrope" + (f", temporal_stride = {mlir_float(stride)}"
                           if stride != 1.0 else "") + ">"
    if variant in ("mrope-interleave", "mhrope"):
        return "<spatial_reset>" if kw.get("spatial_reset") else "<qwen3vl>"
    if variant in ("videorope", "hope"):
        return f"<{variant}{stride_field}>"
    if variant == "v2pe":
        return f"<v2pe, visual_stride = {mlir_float(kw.get('visual_stride', 1.0))}>"
    if variant in ("omnirope", "ilrope"):
        return f"<omnirope{stride_field}>"
    if variant == "mmrope":
        scales = ", ".join(mlir_float(x) for x in kw["position_scale"])
        return f"<mmrope, position_scale = [{scales}]{stride_field}>"
    fields = []  # circlerope
    for key in ("radius", "alpha"):
        if key in kw:
            fields.append(f"{key} = {mlir_float(kw[key])}")
    if kw.get("method", "circle") != "circle":
        fields.append("circle = false")
    if kw.get("dff_rate"):
        fields.append(f"dff_rate = {mlir_float(kw['dff_rate'])}")
    if kw.get("move_to_origin"):
        fields.append("move_to_origin = true")
    if kw.get("move_to_positive"):
        offset = kw["move_to_positive"]
        fields.append(
            f"move_to_positive = {mlir_float(0.0 if offset in ('auto', True) else offset)}")
    return "<circlerope" + "".join(", " + x for x in fields) + stride_field + ">"


# transformers' rules versions of the position golden files
# (hf_position_ids.json) -> the design's compat field.
GOLDEN_RULES_COMPAT = {"v449": "", "v457": ", compat = hf457", "head": ", compat = hf5"}


def golden_rules_design(model_rules: str, version: str, tokens_per_second=None) -> str:
    """``#mrope.design`` body of a golden position case: ``model_rules``
    qwen2vl / qwen25vl / qwen3vl under rules ``version`` v449 / v457 / head.
    Qwen2-VL's and Qwen3-VL's arithmetic changes only in transformers 5."""
    compat = GOLDEN_RULES_COMPAT[version]
    if model_rules == "qwen25vl":
        tps = tokens_per_second
        extra = f", tokens_per_second = {float(tps)!r}" if tps not in (None, 2) else ""
        return f"<absolute_time{compat}{extra}>"
    kind = {"qwen2vl": "mrope", "qwen3vl": "qwen3vl"}[model_rules]
    return f"<{kind}{compat if version == 'head' else ''}>"
