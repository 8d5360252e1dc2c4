"""The user-facing operations: position IDs from a Hugging Face style batch,
decode positions, inverse frequencies and rotary application.

Each call builds the mrope IR for its shapes, compiles it once (cached) with
the project's CPU pipeline, and runs it. NumPy arrays and, when torch is
installed, CPU torch tensors are accepted; results come back in the kind the
activations came in. :func:`apply_rotary` and :func:`attention` also take
CUDA torch tensors: they then compile with the GPU pipeline
(:mod:`mrope.cuda`) and run on the tensors' device, on torch's current
stream.
"""

from typing import NamedTuple, Optional, Tuple

import numpy as np

from . import cuda as cuda_runtime
from . import ir, runtime
from .config import RopeConfig
from .errors import InputError

# rope_index status codes (docs/reference/MRopeDialect.md, mrope.rope_index).
_STATUS_RULES = {
    1: "the block's grid token count does not match its pad tokens",
    2: "more grids than visual blocks",
    3: "a visual block (vision start followed by a pad token) has no grid left",
    4: "a grid size is zero or negative",
    5: "a grid's h or w is not divisible by spatial_merge_size",
    6: "a position overflows 2^53",
    7: "the row has no unpadded token (attention_mask is all zero)",
}


class PositionIds(NamedTuple):
    """``position_ids`` ``[3, B, S]``, ``rope_deltas`` ``[B, 1]`` and
    ``next_positions`` ``[B]`` (the position of each sequence's next token)."""
    position_ids: np.ndarray
    rope_deltas: np.ndarray
    next_positions: np.ndarray


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _to_numpy(x, name: str) -> np.ndarray:
    if _is_torch(x):
        import torch
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            bits = x.view(torch.int16).numpy().view(np.uint16)
            try:
                import ml_dtypes
                return bits.view(ml_dtypes.bfloat16)
            except ImportError:
                raise InputError(f"{name}: bfloat16 torch tensors need the ml_dtypes "
                                 f"package") from None
        return x.numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # noqa: BLE001 - anything NumPy cannot take
        raise InputError(f"{name}: not an array ({e})") from None


def _on_cuda(x) -> bool:
    return _is_torch(x) and x.is_cuda


def _activations(named) -> Tuple[list, bool]:
    """The activations as the checks read them: NumPy arrays (host), or the
    CUDA torch tensors themselves, uncopied (GPU); all on the host or all on
    one CUDA device."""
    on_cuda = [_on_cuda(x) for _, x in named]
    if not any(on_cuda):
        return [_to_numpy(x, name) for name, x in named], False
    names = " and ".join(name for name, _ in named)
    devices = {str(x.device) for _, x in named if _on_cuda(x)}
    if not all(on_cuda) or len(devices) > 1:
        where = ", ".join(f"{name} on {x.device if _is_torch(x) else 'the host'}"
                          for name, x in named)
        raise InputError(f"{names}: must all be on one CUDA device or all on the host, "
                         f"got {where}")
    return [x for _, x in named], True


_TORCH_ELEMENTS = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def _element_of(array) -> str:
    """The MLIR element type of an activation array or tensor."""
    if not _is_torch(array):
        return runtime.element_type_of(array.dtype)
    name = str(array.dtype).replace("torch.", "")
    if name not in _TORCH_ELEMENTS:
        raise InputError(f"activations must be float32, float16 or bfloat16, got {name}")
    return _TORCH_ELEMENTS[name]


def _on_device_of(array, like):
    """``array`` (NumPy or torch) as a C-contiguous tensor on ``like``'s CUDA
    device."""
    import torch
    tensor = array if _is_torch(array) else torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device=like.device).contiguous()


def _like(result: np.ndarray, original):
    if not _is_torch(original):
        return result
    import torch
    if result.dtype.name == "bfloat16":
        return torch.from_numpy(result.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(result)


def _integer_array(x, name: str, ndim: int, optional: bool = True) -> Optional[np.ndarray]:
    if x is None:
        if optional:
            return None
        raise InputError(f"{name}: is required")
    a = _to_numpy(x, name)
    if a.dtype.kind not in "iub":
        raise InputError(f"{name}: must hold integers, got {a.dtype}")
    if a.ndim != ndim:
        raise InputError(f"{name}: must have {ndim} dimensions, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.int64).copy()


def _device_integers(x, name: str, ndim: int, like=None):
    """A CUDA tensor of integers as the contiguous int64 tensor a GPU
    function reads (``like``: moved to its device; host arrays too)."""
    import torch
    if not _on_cuda(x):
        x = torch.from_numpy(_integer_array(x, name, ndim))
    if x.is_floating_point() or x.is_complex():
        raise InputError(f"{name}: must hold integers, got {x.dtype}")
    if x.ndim != ndim:
        raise InputError(f"{name}: must have {ndim} dimensions, got shape {tuple(x.shape)}")
    x = x.to(torch.int64)
    return (x if like is None else x.to(like.device)).contiguous()


def position_ids(config: RopeConfig, input_ids, attention_mask=None, image_grid_thw=None,
                 video_grid_thw=None, second_per_grid_ts=None) -> PositionIds:
    """Position ids of a batch, as the config's reference model computes them
    (``get_rope_index``). Inputs are what a Hugging Face processor returns;
    grids are raw (before the spatial merge) and global across the batch.
    Inconsistent inputs raise :class:`InputError` naming the sequence, the
    block and the rule. For torch ``input_ids`` the results are torch
    tensors. CUDA ``input_ids`` are scanned on their device (the GPU form
    of ``mrope.rope_index``: a thread per sequence; ``input_ids`` and the
    mask are not copied to the host, the grids and ``second_per_grid_ts``
    are small and validated there), and the call waits for the 4-value
    status to raise on bad input."""
    on_gpu = _on_cuda(input_ids)
    ids = (_device_integers(input_ids, "input_ids", 2) if on_gpu
           else _integer_array(input_ids, "input_ids", 2, optional=False))
    batch, length = tuple(ids.shape)
    if batch < 1 or length < 1:
        raise InputError(f"input_ids: needs at least one sequence and one token, "
                         f"got shape {tuple(ids.shape)}")
    mask = (_device_integers(attention_mask, "attention_mask", 2, like=ids)
            if on_gpu and attention_mask is not None
            else _integer_array(attention_mask, "attention_mask", 2))
    if mask is not None and tuple(mask.shape) != (batch, length):
        raise InputError(f"attention_mask: shape {tuple(mask.shape)} differs from "
                         f"input_ids {(batch, length)}")
    grids = []
    for name, value in (("image_grid_thw", image_grid_thw), ("video_grid_thw", video_grid_thw)):
        g = _integer_array(value, name, 2)
        if g is not None and g.shape[1] != 3:
            raise InputError(f"{name}: must be [N, 3] (t, h, w), got shape {g.shape}")
        grids.append(g if g is not None and g.shape[0] else None)
    images, videos = grids
    spg = None
    if second_per_grid_ts is not None:
        spg = _to_numpy(second_per_grid_ts, "second_per_grid_ts")
        if spg.dtype.kind not in "iuf" or spg.ndim != 1:
            raise InputError(f"second_per_grid_ts: must be a 1-D list of numbers, got "
                             f"{spg.dtype} of shape {spg.shape}")
        spg = np.ascontiguousarray(spg, dtype=np.float32).copy()
        if not np.all(np.isfinite(spg)) or np.any(spg < 0):
            raise InputError("second_per_grid_ts: must be finite and non-negative")
        n_videos = 0 if videos is None else videos.shape[0]
        if spg.shape[0] != n_videos:
            raise InputError(f"second_per_grid_ts: has {spg.shape[0]} entries for "
                             f"{n_videos} video grids")
        if not n_videos or "absolute_time" not in config.design:
            spg = None  # only Qwen2.5-VL's absolute time reads it

    source = ir.position_ids_function(
        config, batch, length, mask is not None,
        0 if images is None else images.shape[0], 0 if videos is None else videos.shape[0],
        None if spg is None else spg.shape[0])
    element = np.float32 if config.float_positions else np.int64
    shapes = ((3, batch, length), (batch, 1), (batch,), (4,))
    if on_gpu:
        import torch
        inputs = [ids] + [_on_device_of(a, ids) for a in (mask, images, videos, spg)
                          if a is not None]
        outputs = [torch.empty(shape, dtype=torch.float32 if dtype == np.float32
                               else torch.int64, device=ids.device)
                   for shape, dtype in zip(shapes, (element, element, element, np.int64))]
        cuda_runtime.compile(source).call("position_ids", *inputs, *outputs)
        status = outputs[3].cpu().numpy()  # waits for the kernels
    else:
        outputs = [np.zeros(shape, dtype) for shape, dtype in
                   zip(shapes, (element, element, element, np.int64))]
        inputs = [a for a in (ids, mask, images, videos, spg) if a is not None]
        runtime.compile(source).call("position_ids", *inputs, *outputs)
        status = outputs[3]
    code, sequence, block, detail = (int(v) for v in status)
    if code:
        rule = _STATUS_RULES.get(code, f"status code {code}")
        where = ("the batch" if sequence < 0 else f"sequence {sequence}") + (
            f", visual block {block}" if block >= 0 else "")
        raise InputError(f"{where}: {rule} (detail {detail})")
    if on_gpu:
        return PositionIds(*outputs[:3])
    return PositionIds(*(_like(a, input_ids) for a in outputs[:3]))


def decode_positions(next_positions, count: int = 1) -> np.ndarray:
    """Positions ``[3, B, count]`` of the next ``count`` generated tokens of
    each sequence (the same value on the three rows). A torch tensor gives
    a torch tensor (a CUDA one computed on its device)."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InputError(f"count: must be a positive integer, got {count!r}")
    if _on_cuda(next_positions):
        import torch
        nxt = next_positions
        if nxt.ndim != 1 or nxt.dtype == torch.bool or nxt.is_complex():
            raise InputError(f"next_positions: must be a 1-D array of numbers, got "
                             f"{nxt.dtype} of shape {tuple(nxt.shape)}")
        floating = nxt.is_floating_point()
        nxt = nxt.to(torch.float32 if floating else torch.int64).contiguous()
        out = torch.empty((3, nxt.shape[0], count), dtype=nxt.dtype, device=nxt.device)
        source = ir.decode_positions_function(nxt.shape[0], count,
                                              "f32" if floating else "i64")
        cuda_runtime.compile(source).call("decode_positions", nxt, out)
        return out
    nxt = _to_numpy(next_positions, "next_positions")
    if nxt.ndim != 1 or nxt.dtype.kind not in "iuf":
        raise InputError(f"next_positions: must be a 1-D array of numbers, got "
                         f"{nxt.dtype} of shape {nxt.shape}")
    element = "f32" if nxt.dtype.kind == "f" else "i64"
    dtype = np.float32 if element == "f32" else np.int64
    nxt = np.ascontiguousarray(nxt, dtype=dtype).copy()
    out = np.zeros((3, nxt.shape[0], count), dtype)
    runtime.compile(ir.decode_positions_function(nxt.shape[0], count, element)).call(
        "decode_positions", nxt, out)
    return _like(out, next_positions)


def _needs_length(config: RopeConfig) -> bool:
    return bool(config.scaling) and any(
        f"kind = {k}" in config.scaling for k in ("dynamic", "longrope"))


def inv_freq(config: RopeConfig, seq_len: Optional[int] = None,
             semantics: str = "init") -> np.ndarray:
    """``inv_freq`` ``[rotary_dim / 2]`` (f32) under the config's scaling for
    ``seq_len`` (dynamic NTK and LongRoPE read it; None: their initial value).

    ``semantics`` picks which of transformers' two dynamic-NTK computations:
    ``"init"`` (default), the init function called with the Python integer
    ``seq_len`` (the rescaled base in float64); ``"update"``, the model's
    runtime update, which passes ``seq_len`` as a tensor (the base in
    float32, a few ulps away) -- what :func:`apply_rotary` uses."""
    if semantics not in ("init", "update"):
        raise InputError(f"semantics: must be 'init' or 'update', got {semantics!r}")
    if seq_len is not None:
        seq_len = _checked_seq_len(seq_len)
        if not _needs_length(config):
            seq_len = None  # only dynamic NTK and LongRoPE read it
    out = np.zeros((config.rotary_dim // 2,), np.float32)
    runtime.compile(ir.inv_freq_function(config, seq_len, semantics == "init")).call(
        "inv_freq", out)
    return out


def attention_scaling(config: RopeConfig) -> float:
    """The factor the config's scaling applies to cos and sin."""
    return runtime.attention_scaling(config.scaling) if config.scaling else 1.0


def _positions_array(config: RopeConfig, position_ids, shape=None, device_of=None):
    """position_ids as the contiguous i64 (f32 for fractional designs) array
    the compiled code reads; ``shape`` is the expected one ([3, B, S] when
    None). With ``device_of`` (a CUDA tensor), a tensor on its device (CUDA
    positions are not copied through the host)."""
    on_device = device_of is not None and _on_cuda(position_ids)
    positions = position_ids if on_device else _to_numpy(position_ids, "position_ids")
    got = tuple(positions.shape)
    if shape is not None and got != tuple(shape):
        raise InputError(f"position_ids: expected shape {tuple(shape)}, got {got}")
    if shape is None and (len(got) != 3 or got[0] != 3):
        raise InputError(f"position_ids: must be [3, B, S], got shape {got}")
    if on_device:
        kind = "f" if positions.is_floating_point() else (
            "b" if str(positions.dtype) == "torch.bool" else "i")
    else:
        kind = positions.dtype.kind
    if config.float_positions and kind not in "iuf":
        raise InputError(f"position_ids: must be numbers, got {positions.dtype}")
    if not config.float_positions and kind not in "iu":
        raise InputError(f"position_ids: must be integers for design {config.design}, "
                         f"got {positions.dtype}")
    if on_device:
        import torch
        return positions.to(torch.float32 if config.float_positions else torch.int64).contiguous()
    array = np.ascontiguousarray(positions, dtype=np.float32 if config.float_positions
                                 else np.int64).copy()
    return array if device_of is None else _on_device_of(array, device_of)


def _checked_seq_len(seq_len):
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
        raise InputError(f"seq_len: must be a positive integer, got {seq_len!r}")
    return int(seq_len)


def _length_arguments(config: RopeConfig, positions, seq_len, on_gpu: bool):
    """Where a compiled rotary gets the sequence length its scaling reads at
    run time (``ir.LENGTH_SOURCES``), and the arrays passed for it. By
    default the largest position + 1 over all axes, as Hugging Face's
    dynamic update computes it: on the GPU by the function itself
    (``mrope.sequence_length``, a reduction kernel; no synchronization), on
    the host from the positions here. A given ``seq_len`` is passed as a
    one-element array, on the positions' device."""
    if not _needs_length(config):
        return None, []
    if seq_len is None:
        if on_gpu:
            return "positions", []
        seq_len = int(np.max(positions)) + 1 if positions.size else 1
    value = _checked_seq_len(seq_len)
    if on_gpu:
        import torch
        return "argument", [torch.tensor([value], dtype=torch.int64, device=positions.device)]
    return "argument", [np.array([value], np.int64)]


def _table_element(dtype) -> str:
    """The MLIR element type of a cos/sin table dtype (None: float32)."""
    if dtype is None:
        return "f32"
    try:
        name = np.dtype(dtype).name  # NumPy dtypes and types, ml_dtypes' bfloat16
    except TypeError:
        name = str(dtype).replace("torch.", "")  # torch dtypes
    if name not in _TORCH_ELEMENTS:
        raise InputError(f"dtype: must be float32, float16 or bfloat16, got {dtype!r}")
    return _TORCH_ELEMENTS[name]


def cos_sin(config: RopeConfig, position_ids, num_kv_heads: Optional[int] = None,
            seq_len: Optional[int] = None, dtype=None,
            threads: Optional[bool] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The Hugging Face cos/sin tables for positions ``[3, B, S]``:
    ``[B, S, rotary_dim]`` after the allocation, or ``[B, KV, S, rotary_dim]``
    for head-partitioned (MHRoPE) allocations (``num_kv_heads``, default the
    config's). For attention kernels of your own. ``dtype``: float32
    (default), bfloat16 or float16 (NumPy, ml_dtypes or torch dtypes),
    rounded from the f32 values as Hugging Face's ``.to(dtype)``.
    ``threads``: as for :func:`apply_rotary` (by default from
    ``THREADS_MIN_TOKENS`` tokens). CPU torch positions give CPU torch
    tables; CUDA torch positions give CUDA tables, computed on their device
    (a runtime length too)."""
    on_gpu = _on_cuda(position_ids)
    element = _table_element(dtype)
    positions = _positions_array(config, position_ids,
                                 device_of=position_ids if on_gpu else None)
    batch, length = positions.shape[1:]
    table = [batch, length, config.rotary_dim]
    if "head_partitioned" in config.allocation:
        kv = num_kv_heads or config.num_kv_heads
        if not kv:
            raise InputError("num_kv_heads: head-partitioned allocations need it")
        table = [batch, kv, length, config.rotary_dim]
    length_source, args = _length_arguments(config, positions, seq_len, on_gpu)
    source = ir.cos_sin_function(config, tuple(positions.shape), table, element,
                                 attention_scaling(config), length_source)
    if on_gpu:
        import torch
        torch_dtype = {"f32": torch.float32, "f16": torch.float16,
                       "bf16": torch.bfloat16}[element]
        cos = torch.empty(table, dtype=torch_dtype, device=positions.device)
        sin = torch.empty(table, dtype=torch_dtype, device=positions.device)
        cuda_runtime.compile(source).call("cos_sin", positions, *args, cos, sin)
        return cos, sin
    if threads is None:
        threads = batch * length >= THREADS_MIN_TOKENS
    if element == "bf16":
        try:
            import ml_dtypes
        except ImportError:
            raise InputError("dtype: bfloat16 tables need the ml_dtypes package") from None
    carrier = runtime.carrier_of(element)
    cos, sin = np.zeros(table, carrier), np.zeros(table, carrier)
    runtime.compile(source, threads).call("cos_sin", positions, *args, cos, sin)
    if element == "bf16":
        cos, sin = cos.view(ml_dtypes.bfloat16), sin.view(ml_dtypes.bfloat16)
    return _like(cos, position_ids), _like(sin, position_ids)


_LAYOUTS = {"bhsd": 4, "bshd": 4, "thd": 3}

# apply_rotary uses all cores from this many tokens on: the pipeline's tasks
# are at least 1024 tokens, so smaller inputs would run on one core anyway.
THREADS_MIN_TOKENS = 2048


def apply_rotary(config: RopeConfig, q, k, position_ids, layout: str = "bhsd",
                 inverse: bool = False, angles: str = "reference",
                 seq_len: Optional[int] = None, threads: Optional[bool] = None) -> Tuple:
    """Rotates q and k by their multimodal positions; returns new arrays.

    ``layout`` is ``bhsd`` (``[B, H, S, D]``), ``bshd`` or packed ``thd``
    (``[T, H, D]``, positions ``[3, T]``); positions are ``[3, B, S]``
    otherwise. q and k share the dtype (float32, float16 or bfloat16 through
    ml_dtypes); angles are f32. ``inverse`` rotates by the negated angle (the
    backward pass). Dynamic NTK and LongRoPE use ``seq_len``, by default the
    largest position + 1 as Hugging Face does. ``angles = "exact"`` reduces
    angles exactly (long contexts). ``threads``: run the loop over tokens on
    all cores (MLIR async runtime); by default only for inputs of at least
    ``THREADS_MIN_TOKENS`` tokens, where each core gets whole tasks.

    CUDA torch tensors are rotated on their device by the GPU kernel (the
    same bits as on the host, except that dynamic NTK raises its rescaled
    base with the device's ``powf``, which may differ in the last place);
    the default ``seq_len`` is then computed on the device too."""
    if layout not in _LAYOUTS:
        raise InputError(f"layout: must be one of {', '.join(_LAYOUTS)}, got {layout!r}")
    if angles not in ("reference", "exact"):
        raise InputError(f"angles: must be 'reference' or 'exact', got {angles!r}")
    (qa, ka), on_gpu = _activations((("q", q), ("k", k)))
    rank = _LAYOUTS[layout]
    for name, a in (("q", qa), ("k", ka)):
        if a.ndim != rank:
            raise InputError(f"{name}: layout {layout} needs {rank} dimensions, got shape "
                             f"{a.shape}")
        if a.shape[-1] != config.head_dim:
            raise InputError(f"{name}: last dimension {a.shape[-1]} is not head_dim "
                             f"{config.head_dim}")
    if qa.dtype != ka.dtype:
        raise InputError(f"q and k: dtypes differ ({qa.dtype} vs {ka.dtype})")
    element = _element_of(qa)
    head_axis = {"bhsd": 1, "bshd": 2, "thd": 1}[layout]
    token_axes = {"bhsd": (0, 2), "bshd": (0, 1), "thd": (0,)}[layout]
    q_tokens = tuple(qa.shape[a] for a in token_axes)
    if tuple(ka.shape[a] for a in token_axes) != q_tokens:
        raise InputError(f"q and k: batch/sequence dimensions differ ({qa.shape} vs "
                         f"{ka.shape})")
    if qa.shape[head_axis] % ka.shape[head_axis]:
        raise InputError(f"q heads ({qa.shape[head_axis]}) must be a multiple of k heads "
                         f"({ka.shape[head_axis]})")
    positions = _positions_array(config, position_ids, (3,) + q_tokens,
                                 qa if on_gpu else None)
    largest = 0
    if angles == "exact" and (positions.numel() if on_gpu else positions.size):
        largest = (int(positions.abs().max().item()) if on_gpu else
                   int(np.abs(positions).max()))
    if largest >= 2 ** 24:
        # The exact reduction's bound: an f32 holds every integer below 2^24.
        raise InputError(f"position_ids: angles='exact' needs positions below 2^24 "
                         f"(16777216), got {largest}")
    length, args = _length_arguments(config, positions, seq_len, on_gpu)
    if threads is None:
        threads = int(np.prod(q_tokens)) >= THREADS_MIN_TOKENS
    source = ir.rotary_function(config, layout, tuple(qa.shape), tuple(ka.shape),
                                tuple(positions.shape), element, inverse, angles,
                                attention_scaling(config), length)
    if on_gpu:
        import torch
        q_out = qa.clone(memory_format=torch.contiguous_format)
        k_out = ka.clone(memory_format=torch.contiguous_format)
        cuda_runtime.compile(source).call("rotary", q_out, k_out, positions, *args)
        return q_out, k_out
    q_out, k_out = runtime.carrier_array(qa), runtime.carrier_array(ka)
    runtime.compile(source, threads).call("rotary", q_out, k_out, positions, *args)
    return (_like(runtime.as_dtype(q_out, qa.dtype), q),
            _like(runtime.as_dtype(k_out, ka.dtype), k))


def _check_boundaries(cu: np.ndarray, name: str, tokens: int, of: str,
                      spare: bool = False) -> None:
    """cu_seqlens-style boundaries: [0, ..., tokens], never decreasing; with
    ``spare``, ending at most at ``tokens`` (a preallocated KV cache's rows
    past the last boundary are unused)."""
    end_ok = cu[-1] <= tokens if spare else cu[-1] == tokens
    if len(cu) < 2 or cu[0] != 0 or not end_ok or np.any(np.diff(cu) < 0):
        end = "at most at" if spare else "at"
        raise InputError(f"{name}: must start at 0, never decrease and end {end} the "
                         f"{tokens} packed tokens of {of}, got {cu.tolist()}")


def _checked_block_table(block_table, kv_cu: np.ndarray, page_size: int, pages: int,
                         lengths_name: str) -> np.ndarray:
    """block_table [N, M] against the sequences' lengths (kv_cu_seqlens
    differences) and the pool's pages: the pages a sequence uses must be in
    the pool (the unused tail of a row may hold anything)."""
    table = _integer_array(block_table, "block_table", 2, optional=False)
    if table.shape[0] != len(kv_cu) - 1:
        raise InputError(f"block_table: needs a row per sequence ({len(kv_cu) - 1}), got "
                         f"shape {table.shape}")
    lengths = np.diff(kv_cu)
    for n, length in enumerate(lengths.tolist()):
        if length < 0 or length > table.shape[1] * page_size:
            raise InputError(f"{lengths_name}: sequence {n} has {length} cached keys; its "
                             f"block_table row holds 0 to {table.shape[1]} pages of "
                             f"{page_size}")
        used = table[n, :-(-length // page_size)]
        bad = np.flatnonzero((used < 0) | (used >= pages))
        if bad.size:
            raise InputError(f"block_table: page {int(used[bad[0]])} at [{n}, {int(bad[0])}] "
                             f"is outside the pool's {pages} pages")
    return np.ascontiguousarray(table)


def attention(q, k, v, config: Optional[RopeConfig] = None, position_ids=None,
              k_position_ids=None, keys_rotated: bool = False, causal: bool = False,
              scale: Optional[float] = None, mask=None, cu_seqlens=None,
              kv_cu_seqlens=None, layout: str = "bhsd", threads: Optional[bool] = None,
              block_table=None, kv_seqlens=None):
    """softmax(q k^T * scale + mask) v, computed with online softmax in f32
    (``mrope.attention``); returns a new array of q's shape and dtype.

    q ``[B, Hq, Sq, D]`` (``bshd``: ``[B, Sq, Hq, D]``; packed ``thd``:
    ``[T, Hq, D]`` with ``cu_seqlens`` ``[N + 1]``), k and v with Hkv heads
    dividing Hq (GQA/MQA). Packed k and v cover the same tokens as q, or with
    ``kv_cu_seqlens`` (``[N + 1]``) each sequence's own keys: batched decode
    against caches of different lengths, chunked prefill; k and v may then
    hold spare rows past the last boundary (a preallocated cache: its shape,
    hence the compiled code, stays the same while the lengths grow). ``scale`` defaults
    to 1/sqrt(D); ``causal`` is bottom-right aligned per sequence (query i
    sees keys up to i + Skv - Sq), ``mask`` an
    additive ``[B, Hq or 1, Sq, Skv]`` array. With ``config`` and
    ``position_ids`` q and k are rotated first (k by ``k_position_ids`` when
    given, else by ``position_ids``; ``keys_rotated=True`` for a KV cache
    whose keys were rotated when written). Rows that see no key are 0.

    A paged KV cache (vLLM / FlashAttention ``block_table``): k and v are
    ``[pages, page_size, Hkv, D]`` pools, ``block_table`` ``[N, M]`` lists each
    sequence's pages in order, and sequence n has ``kv_cu_seqlens[n + 1] -
    kv_cu_seqlens[n]`` cached keys (``thd`` only; the keys were rotated when
    written). ``kv_seqlens`` (``[N]``, each sequence's number of keys, as
    FlashAttention's ``cache_seqlens``) may be given instead of
    ``kv_cu_seqlens``.

    CUDA torch tensors run on their device (the flash-attention kernel:
    f16/bf16, or f32 by 3xTF32, head dims multiples of 16 up to 128); the index arrays may be
    on the host or the device."""
    if layout not in _LAYOUTS:
        raise InputError(f"layout: must be one of {', '.join(_LAYOUTS)}, got {layout!r}")
    (qa, ka, va), on_gpu = _activations((("q", q), ("k", k), ("v", v)))
    kv_name = "kv_cu_seqlens"
    if kv_seqlens is not None:
        if kv_cu_seqlens is not None:
            raise InputError("kv_seqlens and kv_cu_seqlens: give one of them")
        lengths = _integer_array(kv_seqlens, "kv_seqlens", 1, optional=False)
        if np.any(lengths < 0):
            raise InputError(f"kv_seqlens: lengths must be >= 0, got {lengths.tolist()}")
        kv_cu_seqlens = np.concatenate([[0], np.cumsum(lengths)])
        kv_name = "kv_seqlens"
    page_size = None
    if block_table is not None:
        if layout != "thd":
            raise InputError("block_table: only with layout thd")
        for name, a in (("k", ka), ("v", va)):
            if a.ndim != 4:
                raise InputError(f"{name}: a paged cache is [pages, page_size, heads, head_dim], "
                                 f"got shape {a.shape}")
        if ka.shape[:2] != va.shape[:2] or ka.shape[1] == 0:
            raise InputError(f"k and v: need the same non-empty pages, got {ka.shape} and "
                             f"{va.shape}")
        page_size = ka.shape[1]
        # The pool's pages as rows (a view of a contiguous cache).
        ka = ka.reshape(-1, *ka.shape[2:])
        va = va.reshape(-1, *va.shape[2:])
    rank = _LAYOUTS[layout]
    for name, a in (("q", qa), ("k", ka), ("v", va)):
        if a.ndim != rank:
            raise InputError(f"{name}: layout {layout} needs {rank} dimensions, got shape "
                             f"{a.shape}")
    if not qa.dtype == ka.dtype == va.dtype:
        raise InputError(f"q, k and v: dtypes differ ({qa.dtype}, {ka.dtype}, {va.dtype})")
    element = _element_of(qa)
    if ka.shape != va.shape:
        raise InputError(f"k and v: shapes differ ({ka.shape} vs {va.shape})")
    head_axis, seq_axis = {"bhsd": (1, 2), "bshd": (2, 1), "thd": (1, 0)}[layout]
    if qa.shape[-1] != ka.shape[-1]:
        raise InputError(f"q and k: head_dim differs ({qa.shape[-1]} vs {ka.shape[-1]})")
    if layout != "thd" and qa.shape[0] != ka.shape[0]:
        raise InputError(f"q and k: batch differs ({qa.shape[0]} vs {ka.shape[0]})")
    if ka.shape[head_axis] == 0 or qa.shape[head_axis] % ka.shape[head_axis]:
        raise InputError(f"q heads ({qa.shape[head_axis]}) must be a multiple of k heads "
                         f"({ka.shape[head_axis]})")
    if scale is not None and (isinstance(scale, bool) or not np.isfinite(scale)):
        raise InputError(f"scale: must be a finite number, got {scale!r}")
    sq, skv = qa.shape[seq_axis], ka.shape[seq_axis]
    arrays = [qa, ka, va]
    mask_shape = cu_shape = table_shape = None
    if mask is not None:
        if layout == "thd":
            raise InputError("mask: not supported with layout thd; use cu_seqlens and causal")
        ma = (_on_device_of(mask, qa).to(qa.dtype) if on_gpu else
              np.ascontiguousarray(_to_numpy(mask, "mask"), dtype=qa.dtype))
        if ma.ndim != 4 or ma.shape[0] != qa.shape[0] or ma.shape[1] not in (
                1, qa.shape[head_axis]) or ma.shape[2:] != (sq, skv):
            raise InputError(f"mask: expected shape [{qa.shape[0]}, {qa.shape[head_axis]} or 1, "
                             f"{sq}, {skv}], got {tuple(ma.shape)}")
        arrays.append(ma)
        mask_shape = tuple(ma.shape)
    if layout == "thd":
        if cu_seqlens is None:
            raise InputError("cu_seqlens: required with layout thd")
        cu = _integer_array(cu_seqlens, "cu_seqlens", 1, optional=False).astype(np.int64)
        _check_boundaries(cu, "cu_seqlens", sq,
                          "q" if kv_cu_seqlens is not None or sq != skv else "q, k and v")
        arrays.append(np.ascontiguousarray(cu))
        cu_shape = cu.shape
        if kv_cu_seqlens is not None:
            kv_cu = _integer_array(kv_cu_seqlens, "kv_cu_seqlens", 1,
                                   optional=False).astype(np.int64)
            if len(kv_cu) != len(cu) and kv_name == "kv_seqlens":
                raise InputError(f"kv_seqlens: needs one length per sequence "
                                 f"({len(cu) - 1}), got {len(kv_cu) - 1}")
            if len(kv_cu) != len(cu):
                raise InputError(f"kv_cu_seqlens: needs one boundary per cu_seqlens entry "
                                 f"({len(cu)}), got {len(kv_cu)}")
            if page_size is None and kv_name == "kv_seqlens" and kv_cu[-1] > skv:
                raise InputError(f"kv_seqlens: the lengths add up to {int(kv_cu[-1])}, more "
                                 f"than the {skv} packed tokens of k and v")
            arrays.append(np.ascontiguousarray(kv_cu))
            if page_size is None:
                # k and v may hold more rows than the caches use: a buffer
                # preallocated for a decode loop keeps its shape (one
                # compilation) while the lengths grow.
                _check_boundaries(kv_cu, "kv_cu_seqlens", skv, "k and v", spare=True)
            else:
                arrays.append(_checked_block_table(block_table, kv_cu, page_size,
                                                   skv // page_size, kv_name))
                table_shape = arrays[-1].shape
        elif page_size is not None:
            raise InputError("kv_cu_seqlens: required with block_table (or kv_seqlens: the "
                             "sequences' numbers of cached keys)")
        elif sq != skv:
            raise InputError(f"kv_cu_seqlens: required when k and v ({skv} tokens) do not "
                             f"cover q's {sq} tokens")
    elif cu_seqlens is not None or kv_cu_seqlens is not None:
        raise InputError(f"{'cu_seqlens' if cu_seqlens is not None else kv_name}: "
                         f"only with layout thd")
    if page_size is not None and config is not None and not keys_rotated:
        raise InputError("keys_rotated: must be True with block_table (a paged cache holds "
                         "keys rotated when they were written)")
    token_shape = lambda a: (3, a.shape[0]) if layout == "thd" else (3, a.shape[0], a.shape[seq_axis])  # noqa: E731
    q_pos_shape = k_pos_shape = None
    if config is not None:
        if position_ids is None:
            raise InputError("position_ids: required with a config (the rotary prologue)")
        if _needs_length(config):
            raise InputError(f"config: {config.scaling} reads the sequence length at run "
                             f"time; rotate with apply_rotary first")
        if qa.shape[-1] != config.head_dim:
            raise InputError(f"q: last dimension {qa.shape[-1]} is not head_dim "
                             f"{config.head_dim}")
        arrays.append(_positions_array(config, position_ids, token_shape(qa)))
        q_pos_shape = arrays[-1].shape
        if not keys_rotated:
            kp = position_ids if k_position_ids is None else k_position_ids
            arrays.append(_positions_array(config, kp, token_shape(ka)))
            k_pos_shape = arrays[-1].shape
    elif position_ids is not None or k_position_ids is not None:
        raise InputError("position_ids: given without a config to rotate with")
    if threads is None:
        threads = sq * qa.shape[head_axis] * (1 if layout == "thd" else qa.shape[0]) >= 256
    source = ir.attention_function(
        tuple(qa.shape), tuple(ka.shape), element, layout, causal, scale, mask_shape, cu_shape,
        config,
        q_pos_shape, k_pos_shape, attention_scaling(config) if config is not None else 1.0,
        kv_cu_seqlens is not None, table_shape, page_size)
    if on_gpu:
        import torch
        out = torch.empty(qa.shape, dtype=qa.dtype, device=qa.device)
        cuda_runtime.compile(source).call(
            "attention", *[_on_device_of(a, qa) for a in arrays], out)
        return out
    out = runtime.carrier_array(np.zeros(qa.shape, qa.dtype))
    # Read-only inputs of the function (ir.attention_function): passed as
    # they are, not copied.
    carriers = [runtime.input_array(a) for a in arrays]
    runtime.compile(source, threads).call("attention", *carriers, out)
    return _like(runtime.as_dtype(out, qa.dtype), q)
