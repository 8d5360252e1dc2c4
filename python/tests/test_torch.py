"""torch tensors in and out (skipped where torch is not installed)."""

import numpy as np
import pytest

import mrope
from hf_configs import QWEN3_VL_8B

torch = pytest.importorskip("torch", reason="torch is not installed")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_apply_rotary_on_torch_tensors(dtype):
    if dtype == "bfloat16":
        pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes")
    config = mrope.from_hf(QWEN3_VL_8B)
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(1, 4, 16, 128, generator=generator).to(getattr(torch, dtype))
    k = torch.randn(1, 2, 16, 128, generator=generator).to(getattr(torch, dtype))
    positions = torch.arange(48).reshape(3, 1, 16)
    q_rot, k_rot = mrope.apply_rotary(config, q, k, positions)
    assert isinstance(q_rot, torch.Tensor) and q_rot.dtype == q.dtype
    q_np, k_np = mrope.apply_rotary(config, *(mrope.ops._to_numpy(t, "t") for t in (q, k)),
                                    positions.numpy())
    np.testing.assert_array_equal(mrope.ops._to_numpy(q_rot, "q").astype(np.float32),
                                  q_np.astype(np.float32))
    np.testing.assert_array_equal(mrope.ops._to_numpy(k_rot, "k").astype(np.float32),
                                  k_np.astype(np.float32))


def test_cos_sin_on_torch_positions():
    # CPU torch positions give CPU torch tables, the NumPy path's values;
    # a torch dtype picks the table type.
    config = mrope.from_hf(QWEN3_VL_8B)
    positions = torch.arange(3 * 40).reshape(3, 1, 40) * 37
    cos, sin = mrope.cos_sin(config, positions)
    assert isinstance(cos, torch.Tensor) and cos.dtype == torch.float32
    want_cos, want_sin = mrope.cos_sin(config, positions.numpy())
    np.testing.assert_array_equal(cos.numpy(), want_cos)
    np.testing.assert_array_equal(sin.numpy(), want_sin)
    half_cos, _ = mrope.cos_sin(config, positions, dtype=torch.float16)
    assert half_cos.dtype == torch.float16
    np.testing.assert_array_equal(half_cos.numpy(), want_cos.astype(np.float16))
    pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes")
    bf_cos, _ = mrope.cos_sin(config, positions, dtype=torch.bfloat16)
    assert bf_cos.dtype == torch.bfloat16
    # torch's own float32 -> bfloat16 rounding of our f32 table.
    assert torch.equal(bf_cos, torch.from_numpy(want_cos).to(torch.bfloat16))


def test_position_ids_and_decode_positions_on_torch_tensors():
    # CPU torch inputs give CPU torch outputs with the NumPy path's values.
    config = mrope.from_hf(QWEN3_VL_8B)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    got = mrope.position_ids(config, ids)
    want = mrope.position_ids(config, ids.numpy())
    for g, w in zip(got, want):
        assert isinstance(g, torch.Tensor)
        np.testing.assert_array_equal(g.numpy(), w)
    nxt = torch.tensor([7, 0, 12])
    decoded = mrope.decode_positions(nxt, 3)
    assert isinstance(decoded, torch.Tensor) and decoded.dtype == torch.int64
    np.testing.assert_array_equal(decoded.numpy(), mrope.decode_positions(nxt.numpy(), 3))
