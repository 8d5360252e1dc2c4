#!/usr/bin/env python3
"""What the GPU benchmarks share (gpu_bench.py, gpu_attention_bench.py):
memref descriptors of CUDA tensors for the compiled functions' C interface,
and CUDA-event timing."""

import ctypes
import statistics

import torch


def descriptor(t):
    """A ranked memref descriptor of a contiguous CUDA tensor."""
    rank = t.dim()

    class Desc(ctypes.Structure):
        _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                    ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
                    ("strides", ctypes.c_int64 * rank)]
    assert t.is_contiguous()
    return Desc(t.data_ptr(), t.data_ptr(), 0, (ctypes.c_int64 * rank)(*t.shape),
                (ctypes.c_int64 * rank)(*t.stride()))


def timed(fn, iters, reps):
    """Median and min-max milliseconds per call over `reps` event-timed runs."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / iters)
    return statistics.median(times), min(times), max(times)
