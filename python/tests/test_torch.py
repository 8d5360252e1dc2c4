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
