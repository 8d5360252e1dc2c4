"""An independent NumPy implementation of the Hugging Face formulas.

Written from the semantics in the project's spec (not from the compiled
path), so the tests can check the compiled code, this reference and the
golden vectors of the real reference models against each other:

- :func:`get_rope_index`: Qwen2-VL / Qwen2.5-VL / Qwen3-VL ``get_rope_index``
  in the legacy (transformers 4.49 and 4.57) forms;
- :func:`default_inv_freq`, :func:`axis_of_pairs`, :func:`cos_sin` and
  :func:`apply_rotary`: ``inv_freq``, the contiguous, interleaved and
  head-partitioned allocations, and ``q * cos + rotate_half(q) * sin``;
- :func:`attention`: scaled dot-product attention in float64 (GQA, causal,
  masks, packed sequences), with :func:`attention_error_bound`.

Float32 arithmetic is kept where the reference computes in float32
(angles, the rotation); cos and sin are taken in float64 and rounded, i.e.
correctly rounded rather than torch's Sleef (within 1 ulp of each other).
"""

from typing import Sequence, Tuple

import numpy as np

QWEN_TOKENS = {"vision_start": 151652, "image_pad": 151655, "video_pad": 151656}


def _llm_grid(grid, merge: int) -> Tuple[int, int, int]:
    t, h, w = (int(v) for v in grid)
    return t, h // merge, w // merge


def get_rope_index(input_ids, attention_mask=None, image_grid_thw=None, video_grid_thw=None,
                   second_per_grid_ts=None, model: str = "qwen2vl", version: str = "v449",
                   tokens_per_second: float = 2, spatial_merge_size: int = 2,
                   tokens=QWEN_TOKENS) -> Tuple[np.ndarray, np.ndarray]:
    """``(position_ids [3, B, S], rope_deltas [B, 1])`` of the legacy
    ``get_rope_index``. ``model``: qwen2vl, qwen25vl or qwen3vl; ``version``:
    v449 (float ``second_per_grid``) or v457 (truncated to an integer)."""
    ids = np.asarray(input_ids, dtype=np.int64)
    batch, length = ids.shape
    mask = np.ones_like(ids) if attention_mask is None else np.asarray(attention_mask, np.int64)
    images = [] if image_grid_thw is None else [tuple(g) for g in image_grid_thw]
    videos = [] if video_grid_thw is None else [tuple(g) for g in video_grid_thw]
    spg = [1.0] * len(videos) if second_per_grid_ts is None else list(second_per_grid_ts)
    if model == "qwen3vl":  # every temporal patch becomes a one-frame grid
        videos = [(1, h, w) for (t, h, w) in videos for _ in range(t)]

    if not images and not videos:
        if attention_mask is None:
            pos = np.broadcast_to(np.arange(length, dtype=np.int64), (3, batch, length)).copy()
            return pos, np.zeros((batch, 1), np.int64)
        pos = np.cumsum(mask, axis=-1) - 1
        pos[mask == 0] = 1
        pos = np.broadcast_to(pos, (3, batch, length)).copy()
        deltas = pos.max(axis=(0, 2)).reshape(batch, 1) + 1 - length
        return pos, deltas

    positions = np.ones((3, batch, length), np.int64)
    deltas = np.zeros((batch, 1), np.int64)
    image_index = video_index = 0
    for b in range(batch):
        row = ids[b][mask[b] == 1]
        starts = np.nonzero(row == tokens["vision_start"])[0]
        kinds = row[starts + 1] if starts.size else np.array([], np.int64)
        remaining_images = int(np.sum(kinds == tokens["image_pad"]))
        remaining_videos = int(np.sum(kinds == tokens["video_pad"]))
        chunks = []
        cursor = 0

        def next_start():
            return int(chunks[-1].max()) + 1 if chunks else 0

        for _ in range(remaining_images + remaining_videos):
            rest = list(row[cursor:])
            ed_image = (cursor + rest.index(tokens["image_pad"])
                        if remaining_images and tokens["image_pad"] in rest else len(row) + 1)
            ed_video = (cursor + rest.index(tokens["video_pad"])
                        if remaining_videos and tokens["video_pad"] in rest else len(row) + 1)
            if ed_image < ed_video:
                t, h, w = _llm_grid(images[image_index], spatial_merge_size)
                seconds, image_index, remaining_images = 0.0, image_index + 1, remaining_images - 1
                end = ed_image
            else:
                t, h, w = _llm_grid(videos[video_index], spatial_merge_size)
                seconds = spg[video_index] if video_index < len(spg) else 1.0
                video_index, remaining_videos = video_index + 1, remaining_videos - 1
                end = ed_video
            text = end - cursor
            start = next_start()
            if text:
                chunks.append(np.broadcast_to(np.arange(text, dtype=np.int64) + start, (3, text)))
            tau = np.repeat(np.arange(t, dtype=np.int64), h * w)
            if model == "qwen25vl":
                if version == "v449":  # float32 product, then .long()
                    time = (tau.astype(np.float32) * np.float32(seconds)) * np.float32(
                        tokens_per_second)
                    tau = np.floor(time).astype(np.int64)
                else:  # second_per_grid truncated to an integer first
                    tau = tau * int(seconds) * int(tokens_per_second)
            eta = np.tile(np.repeat(np.arange(h, dtype=np.int64), w), t)
            omega = np.tile(np.arange(w, dtype=np.int64), t * h)
            # Visual offsets count from the start of the text before the block.
            chunks.append(np.stack([tau, eta, omega]) + start + text)
            cursor = end + t * h * w
        if cursor < len(row):
            start = next_start()
            tail = len(row) - cursor
            chunks.append(np.broadcast_to(np.arange(tail, dtype=np.int64) + start, (3, tail)))
        row_positions = np.concatenate(chunks, axis=1)
        positions[:, b, mask[b] == 1] = row_positions
        deltas[b, 0] = row_positions.max() + 1 - length
    return positions, deltas


def default_inv_freq(rotary_dim: int, theta: float) -> np.ndarray:
    """``1 / theta^(2j/D)``: float32 exponent, power taken in float64 and
    rounded to float32."""
    exponent = (np.arange(0, rotary_dim, 2, dtype=np.int64).astype(np.float32) /
                np.float32(rotary_dim))
    return (1.0 / np.power(np.float64(theta), exponent.astype(np.float64))).astype(np.float32)


def axis_of_pairs(kind: str, section: Sequence[int], pairs: int) -> np.ndarray:
    """Axis (0 = t, 1 = h, 2 = w) of each rotary pair for the ``contiguous``
    (Qwen2/2.5-VL) and ``interleaved`` (MRoPE-I, Qwen3-VL) allocations."""
    j = np.arange(pairs)
    if kind == "contiguous":
        s_t, s_h, _ = section
        return np.where(j < s_t, 0, np.where(j < s_t + s_h, 1, 2))
    if kind == "interleaved":
        _, s_h, s_w = section
        axis = np.zeros(pairs, np.int64)
        axis[(j % 3 == 1) & (j < 3 * s_h)] = 1
        axis[(j % 3 == 2) & (j < 3 * s_w)] = 2
        return axis
    raise ValueError(f"unknown allocation {kind!r}")


def axis_of_kv_heads(section: Sequence[int], kv_heads: int) -> np.ndarray:
    """MHRoPE: axis of each KV head (3 = NoPE, angle 0)."""
    n_t, n_h, n_w = section
    g = np.arange(kv_heads)
    return np.where(g < n_t, 0, np.where(g < n_t + n_h, 1, np.where(g < n_t + n_h + n_w, 2, 3)))


def cos_sin(positions: np.ndarray, inv_freq: np.ndarray, axes: np.ndarray,
            attention_scaling: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """cos and sin ``[..., S, D]`` for positions ``[3, B, S]`` and one axis per
    pair (``axes`` of shape ``[D/2]``); axis 3 means angle 0."""
    padded = np.concatenate([positions.astype(np.float32),
                             np.zeros((1,) + positions.shape[1:], np.float32)])
    selected = padded[axes]  # [D/2, B, S]
    angle = (inv_freq.astype(np.float32)[:, None, None] * selected).astype(np.float32)
    angle = np.moveaxis(angle, 0, -1)  # [B, S, D/2]
    angle = np.concatenate([angle, angle], axis=-1).astype(np.float64)
    scale = np.float32(attention_scaling)
    return ((np.cos(angle).astype(np.float32) * scale).astype(np.float32),
            (np.sin(angle).astype(np.float32) * scale).astype(np.float32))


def _rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, inverse: bool = False,
           dtype=None) -> np.ndarray:
    """``x * cos + rotate_half(x) * sin`` over the first ``cos.shape[-1]``
    channels; the rest pass through. With ``dtype`` (float16 or bfloat16 via
    ml_dtypes) every operation is rounded to it, as torch computes in the
    activation dtype with cos/sin cast to it; otherwise float32."""
    dim = cos.shape[-1]
    dtype = np.dtype(np.float32) if dtype is None else np.dtype(dtype)

    def rounded(a):
        return np.asarray(a, np.float32).astype(dtype).astype(np.float32)

    rot = rounded(x[..., :dim])
    c, s = rounded(cos), rounded(-sin if inverse else sin)
    out = rounded(rounded(rot * c) + rounded(_rotate_half(rot) * s))
    return np.concatenate([out, rounded(x[..., dim:])], axis=-1).astype(dtype)


def apply_rotary(q: np.ndarray, k: np.ndarray, positions: np.ndarray, inv_freq: np.ndarray,
                 allocation: str, section: Sequence[int], attention_scaling: float = 1.0,
                 inverse: bool = False, dtype=None) -> Tuple[np.ndarray, np.ndarray]:
    """q ``[B, Hq, S, D]`` and k ``[B, Hk, S, D]`` rotated (NeoX pairs) by
    positions ``[3, B, S]``. ``allocation``: contiguous, interleaved or
    head_partitioned (MHRoPE, ``section`` counts KV heads, query head q uses
    KV head ``q // (Hq / Hk)``)."""
    pairs = inv_freq.shape[0]
    if allocation == "head_partitioned":
        kv_heads = k.shape[1]
        head_axes = axis_of_kv_heads(section, kv_heads)
        tables = [cos_sin(positions, inv_freq, np.full(pairs, a), attention_scaling)
                  for a in head_axes]
        cos = np.stack([c for c, _ in tables], axis=1)  # [B, Hk, S, D]
        sin = np.stack([s for _, s in tables], axis=1)
        group = q.shape[1] // kv_heads
        return (rotate(q, np.repeat(cos, group, axis=1), np.repeat(sin, group, axis=1), inverse,
                       dtype),
                rotate(k, cos, sin, inverse, dtype))
    cos, sin = cos_sin(positions, inv_freq, axis_of_pairs(allocation, section, pairs),
                       attention_scaling)
    return (rotate(q, cos[:, None], sin[:, None], inverse, dtype),
            rotate(k, cos[:, None], sin[:, None], inverse, dtype))


def select_axis_tables(cos3: np.ndarray, sin3: np.ndarray, allocation: str,
                       section: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Hugging Face's apply_multimodal_rotary_pos_emb: per-axis tables
    ``[3, B, S, D]`` to ``[B, S, D]``, each channel read from its pair's
    axis under ``allocation``."""
    dim = cos3.shape[-1]
    axes = axis_of_pairs(allocation, section, dim // 2)
    axes = np.concatenate([axes, axes])
    channels = np.arange(dim)
    return (cos3[axes, ..., channels].transpose(1, 2, 0),
            sin3[axes, ..., channels].transpose(1, 2, 0))


def attention(q, k, v, causal=False, scale=None, mask=None, cu_seqlens=None,
                        kv_cu_seqlens=None):
    """``softmax(q k^T * scale + mask) v`` in float64 for ``[B, H, S, D]``
    (GQA: query head h reads KV head ``h // (Hq / Hkv)``; causal masking
    bottom-right aligned), or packed ``[T, H, D]`` with ``cu_seqlens``:
    sequence n is ``q[cu[n]:cu[n+1]]`` against k and v over the same tokens,
    or over ``[kv_cu[n], kv_cu[n+1])`` when given. A row with no key is 0."""
    if cu_seqlens is not None:
        kv_cu = cu_seqlens if kv_cu_seqlens is None else kv_cu_seqlens
        out = np.zeros(q.shape[:-1] + v.shape[-1:], np.float64)
        for lo, hi, klo, khi in zip(cu_seqlens[:-1], cu_seqlens[1:], kv_cu[:-1], kv_cu[1:]):
            if hi == lo or khi == klo:  # no query, or no key: rows of 0
                continue
            seq = [x[a:b].transpose(1, 0, 2)[None]
                   for x, a, b in ((q, lo, hi), (k, klo, khi), (v, klo, khi))]
            out[lo:hi] = attention(*seq, causal, scale)[0].transpose(1, 0, 2)
        return out
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    group = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(0, 1, 3, 2) * scale
    if mask is not None:
        scores = scores + mask.astype(np.float64)
    sq, skv = q.shape[2], k.shape[2]
    if causal:
        allowed = np.arange(skv)[None, :] <= np.arange(sq)[:, None] + skv - sq
        scores = np.where(allowed, scores, -np.inf)
    top = scores.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    p = np.exp(scores - top)
    total = p.sum(axis=-1, keepdims=True)
    # A row with no key is 0 (flash-attention's convention).
    return np.where(total > 0, (p / np.where(total > 0, total, 1)) @ v, 0)


def gather_pages(pool, kv_cu, table, page_size: int) -> np.ndarray:
    """A paged KV pool ``[pages * P, H, D]`` as the packed keys
    ``[kv_cu[-1], H, D]`` it stands for: sequence n's key j is pool row
    ``table[n, j // P] * P + j % P`` (``kv_cu``: the sequences' key
    boundaries, ``table``: their pages, as ``mrope.attention``'s
    kv_cu_seqlens and block_table)."""
    rows = [table[n, j // page_size] * page_size + j % page_size
            for n in range(len(kv_cu) - 1) for j in range(kv_cu[n + 1] - kv_cu[n])]
    return pool[np.array(rows, np.int64).reshape(-1)]


def attention_error_bound(want: np.ndarray, dtype) -> np.ndarray:
    """Per-element bound on |computed - float64 reference| of an attention
    output in ``dtype`` with f32 accumulation: 1e-4 for float32; for 16-bit
    outputs the result's rounding (one ulp of the value, at most) plus f32
    accumulation over 16-bit inputs rounded like torch, 2^-9."""
    if np.dtype(dtype) == np.float32:
        return np.full(want.shape, 1e-4)
    ulp = np.spacing(np.abs(want).astype(np.float32).astype(dtype)).astype(np.float64)
    return ulp + 2.0 ** -9 + 1e-12
