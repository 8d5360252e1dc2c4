"""MLIR text for the functions the Python API compiles.

Every function is written in destination-passing style for
:mod:`mrope.runtime`: memref arguments (inputs, then outputs), tensors made
with ``bufferization.to_tensor ... restrict`` and results written with
``bufferization.materialize_in_destination``.
"""

from typing import List, Optional, Sequence, Tuple

from .config import RopeConfig, _number


def tensor_type(shape: Sequence[int], element: str) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + element + ">"


def memref_type(shape: Sequence[int], element: str) -> str:
    return "memref<" + "".join(f"{d}x" for d in shape) + element + ">"


class _Function:
    """Collects arguments and body lines of one callable function."""

    def __init__(self, name: str):
        self.name = name
        self.arguments: List[str] = []
        self.lines: List[str] = []
        self.outputs: List[str] = []

    def input(self, name: str, shape: Sequence[int], element: str,
              writable: bool = False) -> Tuple[str, str]:
        memref = memref_type(shape, element)
        tensor = tensor_type(shape, element)
        self.arguments.append(f"%{name}_m: {memref}")
        mode = "restrict writable" if writable else "restrict"
        self.lines.append(f"%{name} = bufferization.to_tensor %{name}_m {mode} : "
                          f"{memref} to {tensor}")
        return f"%{name}", tensor

    def output(self, name: str, shape: Sequence[int], element: str) -> None:
        self.arguments.append(f"%{name}_out: {memref_type(shape, element)}")
        self.outputs.append(f"{name}_out")

    def store(self, value: str, destination: str, shape: Sequence[int], element: str) -> None:
        # An output argument is a buffer of its own (the callers allocate
        # it): `restrict` lets the pipeline compute the result in it (empty
        # tensor elimination) instead of in a temporary copied there.
        mode = "restrict writable" if destination in self.outputs else "writable"
        self.lines.append(
            f"bufferization.materialize_in_destination {value} in {mode} "
            f"%{destination} : ({tensor_type(shape, element)}, "
            f"{memref_type(shape, element)}) -> ()")

    def text(self) -> str:
        body = "".join(f"  {line}\n" for line in self.lines + ["return"])
        return (f"func.func @{self.name}({', '.join(self.arguments)}) "
                f"attributes {{llvm.emit_c_interface}} {{\n{body}}}\n")


def position_ids_function(config: RopeConfig, batch: int, length: int, has_mask: bool,
                          images: int, videos: int, second_per_grid: Optional[int]) -> str:
    """``@position_ids(input_ids, [mask], [images], [videos], [second_per_grid],
    positions_out, rope_deltas_out, next_positions_out, status_out)``."""
    fn = _Function("position_ids")
    elem = config.position_type
    ids, ids_t = fn.input("ids", [batch, length], "i64")
    operands = ""
    if has_mask:
        v, t = fn.input("mask", [batch, length], "i64")
        operands += f" mask({v} : {t})"
    if images:
        v, t = fn.input("images", [images, 3], "i64")
        operands += f" images({v} : {t})"
    if videos:
        v, t = fn.input("videos", [videos, 3], "i64")
        operands += f" videos({v} : {t})"
    if second_per_grid:
        v, t = fn.input("second_per_grid", [second_per_grid], "f32")
        operands += f" second_per_grid({v} : {t})"
    shapes = ([3, batch, length], [batch, 1], [batch], [4])
    elements = (elem, elem, elem, "i64")
    names = ("positions", "rope_deltas", "next_positions", "status")
    for name, shape, element in zip(names, shapes, elements):
        fn.output(name, shape, element)
    results = ", ".join(tensor_type(s, e) for s, e in zip(shapes, elements))
    fn.lines.append(
        f"%p, %d, %n, %s = mrope.rope_index {ids}{operands} design {config.design} "
        f"tokens {config.vision_tokens_attr()} "
        f"{{spatial_merge_size = {config.spatial_merge_size} : i64}} : {ids_t} -> {results}")
    for value, name, shape, element in zip(("%p", "%d", "%n", "%s"), names, shapes, elements):
        fn.store(value, name + "_out", shape, element)
    return fn.text()


def decode_positions_function(batch: int, count: int, element: str) -> str:
    """``@decode_positions(next_positions, positions_out)``."""
    fn = _Function("decode_positions")
    n, n_t = fn.input("next", [batch], element)
    fn.output("positions", [3, batch, count], element)
    out_t = tensor_type([3, batch, count], element)
    fn.lines.append(f"%p = mrope.decode_positions {n} : {n_t} -> {out_t}")
    fn.store("%p", "positions_out", [3, batch, count], element)
    return fn.text()


def inv_freq_line(config: RopeConfig, seq_len: Optional[str], at_init: bool = False) -> str:
    """``%f = mrope.inv_freq ...``; ``at_init``: a given ``seq_len`` with the
    init function's (float64) dynamic-NTK arithmetic, not the runtime
    update's (float32)."""
    scaling = f" scaling {config.scaling}" if config.scaling else ""
    length = f" seq_len({seq_len} : i64)" if seq_len else ""
    if seq_len and at_init and config.scaling and "kind = dynamic" in config.scaling:
        length += " at_init"
    return (f"%f = mrope.inv_freq theta = {_number(config.theta)}{scaling}{length} : "
            f"{tensor_type([config.rotary_dim // 2], 'f32')}")


def inv_freq_function(config: RopeConfig, seq_len: Optional[int],
                      at_init: bool = True) -> str:
    """``@inv_freq(inv_freq_out)``, for a known ``seq_len`` (or none)."""
    fn = _Function("inv_freq")
    length = None
    if seq_len is not None:
        fn.lines.append(f"%len = arith.constant {int(seq_len)} : i64")
        length = "%len"
    fn.output("inv_freq", [config.rotary_dim // 2], "f32")
    fn.lines.append(inv_freq_line(config, length, at_init))
    fn.store("%f", "inv_freq_out", [config.rotary_dim // 2], "f32")
    return fn.text()


LENGTH_SOURCES = (None, "argument", "positions")


def _length(fn: _Function, source: Optional[str], positions: str, positions_type: str
            ) -> Optional[str]:
    """The sequence length a scaling reads at run time: none, a ``seq_len``
    input ``[1]`` (``"argument"``), or ``mrope.sequence_length`` of the
    positions (``"positions"``: computed where the function runs, on the
    GPU too)."""
    if source not in LENGTH_SOURCES:
        raise ValueError(f"length source {source!r}")
    if source is None:
        return None
    if source == "positions":
        fn.lines.append(f"%len = mrope.sequence_length {positions} : {positions_type}")
        return "%len"
    v, t = fn.input("seq_len", [1], "i64")
    fn.lines.append("%c0 = arith.constant 0 : index")
    fn.lines.append(f"%len = tensor.extract {v}[%c0] : {t}")
    return "%len"


def rotary_function(config: RopeConfig, layout: str, q_shape: Sequence[int],
                    k_shape: Sequence[int], position_shape: Sequence[int], element: str,
                    inverse: bool, angles: str, attention_scaling: float,
                    length: Optional[str]) -> str:
    """``@rotary(q, k, positions, [seq_len])``: rotates q and k in place;
    ``length``: where a runtime length comes from (``LENGTH_SOURCES``)."""
    fn = _Function("rotary")
    q, q_t = fn.input("q", q_shape, element, writable=True)
    k, k_t = fn.input("k", k_shape, element, writable=True)
    p, p_t = fn.input("positions", position_shape, config.position_type)
    fn.lines.append(inv_freq_line(config, _length(fn, length, p, p_t)))
    f_t = tensor_type([config.rotary_dim // 2], "f32")
    fn.lines.append(
        f"%qr, %kr = mrope.apply {q}, {k} positions({p} : {p_t}) freqs(%f : {f_t}) "
        f"layout {layout} rotary {config.rotary_attr(angles, attention_scaling)}"
        f"{' inverse' if inverse else ''} : {q_t}, {k_t}")
    fn.store("%qr", "q_m", q_shape, element)
    fn.store("%kr", "k_m", k_shape, element)
    return fn.text()


def attention_function(q_shape: Sequence[int], k_shape: Sequence[int], element: str,
                       layout: str, causal: bool, scale: Optional[float],
                       mask_shape: Optional[Sequence[int]] = None,
                       cu_shape: Optional[Sequence[int]] = None,
                       config: Optional[RopeConfig] = None,
                       q_position_shape: Optional[Sequence[int]] = None,
                       k_position_shape: Optional[Sequence[int]] = None,
                       attention_scaling: float = 1.0, kv_cu: bool = False,
                       table_shape: Optional[Sequence[int]] = None,
                       page_size: Optional[int] = None) -> str:
    """``@attention(q, k, v, [mask], [cu_seqlens], [kv_cu_seqlens], [block_table],
    [q_positions], [k_positions], out)``: mrope.attention, with a rotary prologue when
    ``config`` is given (k_positions omitted: the keys are rotated); k and v are a
    paged pool ``[pages * page_size, Hkv, D]`` with ``table_shape``."""
    fn = _Function("attention")
    q, q_t = fn.input("q", q_shape, element)
    k, k_t = fn.input("k", k_shape, element)
    v, v_t = fn.input("v", k_shape, element)
    operands = ""
    if mask_shape is not None:
        m, m_t = fn.input("mask", mask_shape, element)
        operands += f" mask({m} : {m_t})"
    if cu_shape is not None:
        c, c_t = fn.input("cu", cu_shape, "i64")
        operands += f" cu_seqlens({c} : {c_t})"
        if kv_cu:
            kc, kc_t = fn.input("kvcu", cu_shape, "i64")
            operands += f" kv_cu_seqlens({kc} : {kc_t})"
        if table_shape is not None:
            t, t_t = fn.input("table", table_shape, "i64")
            operands += f" block_table({t} : {t_t}) page_size {page_size}"
    rotary = ""
    if config is not None:
        p, p_t = fn.input("qpos", q_position_shape, config.position_type)
        operands += f" q_positions({p} : {p_t})"
        if k_position_shape is not None:
            kp, kp_t = fn.input("kpos", k_position_shape, config.position_type)
            operands += f" k_positions({kp} : {kp_t})"
        fn.lines.append(inv_freq_line(config, None))
        operands += f" freqs(%f : {tensor_type([config.rotary_dim // 2], 'f32')})"
        rotary = f" rotary {config.rotary_attr('reference', attention_scaling)}"
    fn.output("out", q_shape, element)
    attrs = rotary + (f" scale {float(scale)!r}" if scale is not None else "")
    attrs += " causal" if causal else ""
    fn.lines.append(f"%o = mrope.attention {q}, {k}, {v}{operands} layout {layout}{attrs} : "
                    f"{q_t}, {k_t}, {v_t} -> {q_t}")
    fn.store("%o", "out_out", q_shape, element)
    return fn.text()


def cos_sin_function(config: RopeConfig, position_shape: Sequence[int],
                     table_shape: Sequence[int], element: str,
                     attention_scaling: float, length: Optional[str]) -> str:
    """``@cos_sin(positions, [seq_len], cos_out, sin_out)``: the Hugging Face
    cos/sin tables ``[B, S, D]`` (``[B, KV, S, D]`` for MHRoPE); ``length``
    as for ``rotary_function``."""
    fn = _Function("cos_sin")
    p, p_t = fn.input("positions", position_shape, config.position_type)
    length = _length(fn, length, p, p_t)
    fn.output("cos", table_shape, element)
    fn.output("sin", table_shape, element)
    fn.lines.append(inv_freq_line(config, length))
    f_t = tensor_type([config.rotary_dim // 2], "f32")
    t_t = tensor_type(table_shape, element)
    fn.lines.append(f"%c, %s = mrope.cos_sin {p}, %f rotary "
                    f"{config.rotary_attr('reference', attention_scaling)} : {p_t}, {f_t} -> "
                    f"{t_t}, {t_t}")
    fn.store("%c", "cos_out", table_shape, element)
    fn.store("%s", "sin_out", table_shape, element)
    return fn.text()


def tensor_entry_point(source: str, name: str, entry: str = "run") -> str:
    """``source`` plus ``@entry``: a destination-passing wrapper of the
    tensor function ``@name`` (static shapes), so that IR from other
    frontends (Torch-MLIR, IREE inputs) can be compiled with
    :func:`mrope.compile` and called on arrays: its arguments, then one
    output array per result."""
    import re

    match = re.search(r"func\.func @%s\((.*?)\)\s*(?:->\s*(\(.*?\)|tensor<[^>]*>))?\s*"
                      r"(?:attributes\s*\{[^}]*\}\s*)?\{" % re.escape(name), source, re.S)
    if match is None:
        raise ValueError(f"no function @{name} in the source")
    arguments = re.findall(r"%[\w.$-]+\s*:\s*(tensor<[^>]*>|[^,]+)", match.group(1))
    results = re.findall(r"tensor<[^>]*>|[^,()\s]+", match.group(2) or "")
    for t in arguments + results:
        if not t.startswith("tensor<") or "?" in t:
            raise ValueError(f"@{name}: only statically shaped tensors are supported, got {t}")

    def memref(t: str) -> str:
        return "memref" + t[len("tensor"):]

    params = ([f"%a{i}: {memref(t)}" for i, t in enumerate(arguments)] +
              [f"%r{i}: {memref(t)}" for i, t in enumerate(results)])
    lines = [f"%t{i} = bufferization.to_tensor %a{i} restrict : {memref(t)} to {t}"
             for i, t in enumerate(arguments)]
    call = (f"func.call @{name}({', '.join(f'%t{i}' for i in range(len(arguments)))}) : "
            f"({', '.join(arguments)}) -> ({', '.join(results)})")
    lines.append(f"%res:{len(results)} = {call}" if results else call)
    lines += [f"bufferization.materialize_in_destination %res#{i} in writable %r{i} : "
              f"({t}, {memref(t)}) -> ()" for i, t in enumerate(results)]
    body = "".join(f"    {line}\n" for line in lines + ["return"])
    wrapper = (f"  func.func @{entry}({', '.join(params)}) attributes "
               f"{{llvm.emit_c_interface}} {{\n{body}  }}\n")
    if not re.search(r"^\s*module\b", source, re.M):
        return source + "\n" + wrapper  # top-level functions: an implicit module
    end = source.rindex("}")  # the module's closing brace
    return source[:end] + wrapper + source[end:]
