#!/usr/bin/env python3
"""What the GPU benchmarks share (gpu_bench.py, gpu_attention_bench.py):
memref descriptors of CUDA tensors for the compiled functions' C interface,
CUDA-event timing and the devices' peak bandwidth."""

import ctypes
import statistics

import torch


# Peak HBM bandwidth by device name (vendor data sheets), bytes/s.
PEAKS = [("H200", 4.8e12), ("H100 SXM", 3.35e12), ("H100 80GB HBM3", 3.35e12),
         ("H100 PCIe", 2.0e12), ("H100", 3.35e12), ("A100-SXM4-80GB", 2.039e12),
         ("A100", 1.555e12), ("L40S", 0.864e12)]


def peak_bandwidth(device_name):
    """The device's peak HBM bandwidth in bytes/s, None if not in PEAKS."""
    return next((p for key, p in PEAKS if key in device_name), None)


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
