#!/usr/bin/env python3
"""Builds the GPU benchmark bundle: everything the GPU machine needs to time
and check the compiled kernels, compiled ahead of time here (that machine has
CUDA and PyTorch but no LLVM/MLIR).

    gpu_bundle.py OUT [--chip sm_90a --features +ptx80]

OUT receives
  conform/                 every rotary golden case as a stand-alone executable
                           (mrope-conform --gpu --aot-build) with the golden
                           files and mrope-conform itself, to check the GPU
                           against the reference data there
  libmrope_gpu_bench.so    one C function per configuration
                           (_mlir_ciface_<name>(q, k, positions) on device
                           memref descriptors), kernels as an embedded fatbin
  libmrope_cuda_runtime.so the mgpu* runtime (found through $ORIGIN)
  manifest.json            the configurations: name, tokens, heads, allocation;
                           attention: variant, sequence length, causal
  attention/               the attention checks (attention_check.py, one
                           library per case) run on the GPU
  libmrope_gpu_positions.so, positions_cases.json
                           mrope.rope_index on device buffers: every position
                           golden case and long prompts to time
                           (gpu_positions_bench.py, with reference.py)
  gpu_bench.py, torch_peer.py, run.sh
and is small enough to carry to the GPU machine, where `sh OUT/run.sh` runs
the golden checks and then the benchmark (tools/mrope-bench/gpu_bench.py).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
LLVM_BIN = "/usr/lib/llvm-22/bin"

# design/PERF.md's S0 and decode sizes; 32 q + 8 kv heads, D = 128, bf16,
# packed [T, H, D]. MHRoPE gives KV heads 2/3/3 to t/h/w.
Q_HEADS, KV_HEADS, DIM, THETA = 32, 8, 128, 1.0e6
ALLOCATIONS = {
    "contiguous": "<contiguous, section = [16, 24, 24]>",
    "interleaved": "<interleaved, section = [24, 20, 20]>",
    "mhrope": "<head_partitioned, section = [2, 3, 3]>",
}
TOKENS = [16384, 1, 16, 256]

# The golden checks run on the GPU: (file, mrope-conform arguments), as in
# test/GPU/run.test.
CONFORMANCE = [
    ("rotary_contiguous_mrope.json", []),
    ("rotary_interleaved_mrope.json", []),
    ("rotary_mhrope.json", []),
    ("rotary_interleaved_mrope.json", ["--dtype", "bf16"]),
    ("rotary_mhrope.json", ["--dtype", "f16"]),
    ("rotary_mhrope.json", ["--variant", "thd"]),
    ("rotary_interleaved_mrope.json", ["--variant", "gptj"]),
    ("rotary_contiguous_mrope.json", ["--variant", "partial"]),
    ("rotary_mhrope.json", ["--variant", "scaled"]),
    ("paper_variants.json", []),
]


def function(name, tokens, alloc):
    q_t = f"{tokens}x{Q_HEADS}x{DIM}xbf16"
    k_t = f"{tokens}x{KV_HEADS}x{DIM}xbf16"
    p_t = f"3x{tokens}xi64"
    return f"""
func.func @{name}(%q: memref<{q_t}>, %k: memref<{k_t}>, %pos: memref<{p_t}>)
    attributes {{llvm.emit_c_interface}} {{
  %tq = bufferization.to_tensor %q restrict writable : memref<{q_t}> to tensor<{q_t}>
  %tk = bufferization.to_tensor %k restrict writable : memref<{k_t}> to tensor<{k_t}>
  %tp = bufferization.to_tensor %pos restrict : memref<{p_t}> to tensor<{p_t}>
  %f = mrope.inv_freq theta = {THETA:e} : tensor<{DIM // 2}xf32>
  %rq, %rk = mrope.apply %tq, %tk positions(%tp : tensor<{p_t}>) freqs(%f : tensor<{DIM // 2}xf32>)
      layout thd rotary <alloc = {alloc}, rotary_dim = {DIM}> : tensor<{q_t}>, tensor<{k_t}>
  bufferization.materialize_in_destination %rq in restrict writable %q : (tensor<{q_t}>, memref<{q_t}>) -> ()
  bufferization.materialize_in_destination %rk in restrict writable %k : (tensor<{k_t}>, memref<{k_t}>) -> ()
  return
}}
"""


# Attention (issue #7's sizes): bhsd, 32 q + 8 kv heads, D = 128, bf16,
# S = 2k / 8k / 16k, causal and not; rotary contiguous (Qwen2-VL).
ATTENTION_SEQS = [2048, 8192, 16384]
ATTENTION_ALLOC = "<contiguous, section = [16, 24, 24]>"
ATTENTION_VARIANTS = ["plain", "fused", "separate"]
ATTENTION_DECODE_CACHES = [2048, 16384]
# Batched decode over packed sequences with their own caches
# (kv_cu_seqlens): sequences, keys of all caches (lengths drawn at run time).
VARLEN_DECODE = [(16, 65536), (64, 262144)]
# Keys per page of the paged-cache variant (vLLM's default block size).
PAGE_SIZE = 16


def attention_function(name, seq, causal, variant, q_seq=None, dtype="bf16"):
    """(q, k, v, positions, out) on device buffers. plain: no rotary; fused:
    the rotary prologue; separate: mrope.apply in place on q and k, then
    the same attention. With q_seq < seq (decode, plain only): q_seq new
    tokens against a cache of seq keys."""
    q_seq = q_seq or seq
    q_t = f"1x{Q_HEADS}x{q_seq}x{DIM}x{dtype}"
    k_t = f"1x{KV_HEADS}x{seq}x{DIM}x{dtype}"
    p_t = f"3x1x{seq}xi64"
    writable = " writable" if variant == "separate" else ""
    rotary = (f"rotary <alloc = {ATTENTION_ALLOC}, rotary_dim = {DIM}>")
    types = f"tensor<{q_t}>, tensor<{k_t}>, tensor<{k_t}> -> tensor<{q_t}>"
    mask = " causal" if causal else ""
    body = f"""  %f = mrope.inv_freq theta = {THETA:e} : tensor<{DIM // 2}xf32>
"""
    if variant == "plain":
        body += f"  %o = mrope.attention %tq, %tk, %tv layout bhsd{mask} : {types}\n"
    elif variant == "fused":
        body += (f"  %o = mrope.attention %tq, %tk, %tv q_positions(%tp : tensor<{p_t}>) "
                 f"k_positions(%tp : tensor<{p_t}>) freqs(%f : tensor<{DIM // 2}xf32>) "
                 f"layout bhsd {rotary}{mask} : {types}\n")
    else:
        body += (f"  %rq, %rk = mrope.apply %tq, %tk positions(%tp : tensor<{p_t}>) "
                 f"freqs(%f : tensor<{DIM // 2}xf32>) layout bhsd {rotary} "
                 f": tensor<{q_t}>, tensor<{k_t}>\n"
                 f"  %o = mrope.attention %rq, %rk, %tv layout bhsd{mask} : "
                 f"tensor<{q_t}>, tensor<{k_t}>, tensor<{k_t}> -> tensor<{q_t}>\n")
    return f"""
func.func @{name}(%q: memref<{q_t}>, %k: memref<{k_t}>, %v: memref<{k_t}>,
                  %pos: memref<{p_t}>, %out: memref<{q_t}>)
    attributes {{llvm.emit_c_interface}} {{
  %tq = bufferization.to_tensor %q restrict{writable} : memref<{q_t}> to tensor<{q_t}>
  %tk = bufferization.to_tensor %k restrict{writable} : memref<{k_t}> to tensor<{k_t}>
  %tv = bufferization.to_tensor %v restrict : memref<{k_t}> to tensor<{k_t}>
  %tp = bufferization.to_tensor %pos restrict : memref<{p_t}> to tensor<{p_t}>
{body}  bufferization.materialize_in_destination %o in restrict writable %out
      : (tensor<{q_t}>, memref<{q_t}>) -> ()
  return
}}
"""


def varlen_decode_function(name, seqs, keys, paged=None):
    """(q [seqs, Hq, D], k and v [keys, Hkv, D], cu_seqlens and
    kv_cu_seqlens [seqs + 1] i32, [block_table], out): one new token per
    packed sequence against its own cached keys. With `paged` = (page size
    P, pages per sequence M, pool pages), k and v are the pool [pages * P,
    Hkv, D] and block_table [seqs, M] i32 follows kv_cu_seqlens."""
    q_t = f"{seqs}x{Q_HEADS}x{DIM}xbf16"
    rows = keys if paged is None else paged[0] * paged[2]
    k_t = f"{rows}x{KV_HEADS}x{DIM}xbf16"
    c_t = f"{seqs + 1}xi32"
    table_arg = table_tensor = table_operand = ""
    if paged is not None:
        t_t = f"{seqs}x{paged[1]}xi32"
        table_arg = f" %table: memref<{t_t}>,"
        table_tensor = (f"  %tt = bufferization.to_tensor %table restrict : memref<{t_t}> "
                        f"to tensor<{t_t}>\n")
        table_operand = f" block_table(%tt : tensor<{t_t}>) page_size {paged[0]}"
    return f"""
func.func @{name}(%q: memref<{q_t}>, %k: memref<{k_t}>, %v: memref<{k_t}>,
                  %cu: memref<{c_t}>, %kvcu: memref<{c_t}>,{table_arg} %out: memref<{q_t}>)
    attributes {{llvm.emit_c_interface}} {{
  %tq = bufferization.to_tensor %q restrict : memref<{q_t}> to tensor<{q_t}>
  %tk = bufferization.to_tensor %k restrict : memref<{k_t}> to tensor<{k_t}>
  %tv = bufferization.to_tensor %v restrict : memref<{k_t}> to tensor<{k_t}>
  %tc = bufferization.to_tensor %cu restrict : memref<{c_t}> to tensor<{c_t}>
  %tkc = bufferization.to_tensor %kvcu restrict : memref<{c_t}> to tensor<{c_t}>
{table_tensor}  %o = mrope.attention %tq, %tk, %tv cu_seqlens(%tc : tensor<{c_t}>)
      kv_cu_seqlens(%tkc : tensor<{c_t}>){table_operand} layout thd causal
      : tensor<{q_t}>, tensor<{k_t}>, tensor<{k_t}> -> tensor<{q_t}>
  bufferization.materialize_in_destination %o in restrict writable %out
      : (tensor<{q_t}>, memref<{q_t}>) -> ()
  return
}}
"""


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"gpu_bundle: {' '.join(cmd[:2])} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--build", default=os.path.join(SOURCE, "build"))
    parser.add_argument("--chip", default="sm_90a")
    parser.add_argument("--features", default="+ptx80")
    parser.add_argument("--format", default="isa", choices=["isa", "fatbin"],
                        help="kernel binary: PTX (default; the driver compiles it at "
                             "load, so any driver new enough for the PTX version works) "
                             "or a fatbin built by this machine's CUDA toolkit")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.environ.setdefault("CUDA_HOME", "/usr/local/cuda")

    configs, source = [], ""
    for alloc, attr in ALLOCATIONS.items():
        for tokens in TOKENS:
            name = f"rotary_{alloc}_t{tokens}"
            configs.append({"name": name, "function": "_mlir_ciface_" + name,
                            "allocation": alloc, "tokens": tokens, "q_heads": Q_HEADS,
                            "kv_heads": KV_HEADS, "head_dim": DIM, "theta": THETA})
            source += function(name, tokens, attr)
    # The attention variants, plus the plain kernel with synchronous staging
    # (attention-stages=1) in a library of its own, to compare the two.
    attention_configs, one_stage = [], ""
    for seq in ATTENTION_SEQS:
        for causal in (True, False):
            for variant in ATTENTION_VARIANTS + ["plain_1stage"]:
                name = f"attention_{variant}_s{seq}_{'causal' if causal else 'full'}"
                library = ("libmrope_gpu_attention_1stage.so" if variant == "plain_1stage"
                           else "libmrope_gpu_bench.so")
                attention_configs.append({"name": name, "function": "_mlir_ciface_" + name,
                                          "library": library,
                                          "variant": variant, "seq": seq, "causal": causal,
                                          "q_heads": Q_HEADS, "kv_heads": KV_HEADS,
                                          "head_dim": DIM, "theta": THETA,
                                          "allocation": "contiguous"})
                text = attention_function(name, seq, causal, variant.split("_")[0])
                if variant == "plain_1stage":
                    one_stage += text
                else:
                    source += text
    # f32 activations (3xTF32 on tensor cores), no rotary: against SDPA in
    # f32.
    for seq in ATTENTION_SEQS:
        for causal in (True, False):
            name = f"attention_f32_s{seq}_{'causal' if causal else 'full'}"
            attention_configs.append({"name": name, "function": "_mlir_ciface_" + name,
                                      "library": "libmrope_gpu_bench.so", "variant": "f32",
                                      "seq": seq, "causal": causal, "q_heads": Q_HEADS,
                                      "kv_heads": KV_HEADS, "head_dim": DIM})
            source += attention_function(name, seq, causal, "plain", dtype="f32")
    # Decode: one new token against a cache (split-KV, GQA groups sharing
    # each block); GB/s of the cache read.
    for cache in ATTENTION_DECODE_CACHES:
        name = f"attention_decode_s{cache}"
        attention_configs.append({"name": name, "function": "_mlir_ciface_" + name,
                                  "library": "libmrope_gpu_bench.so", "variant": "decode",
                                  "seq": cache, "q_seq": 1, "causal": True,
                                  "q_heads": Q_HEADS, "kv_heads": KV_HEADS,
                                  "head_dim": DIM})
        source += attention_function(name, cache, True, "plain", q_seq=1)
    for seqs, keys in VARLEN_DECODE:
        name = f"attention_varlen_decode_n{seqs}_k{keys}"
        # The same batch in a paged cache (vLLM's pages of 16): room for
        # twice the mean length per sequence (the bench draws at most 1.75x),
        # and a pool of every sequence's pages.
        page = PAGE_SIZE
        max_pages = -(-2 * keys // (seqs * page))
        pool_pages = keys // page + seqs
        attention_configs.append({"name": name, "function": "_mlir_ciface_" + name,
                                  "library": "libmrope_gpu_bench.so",
                                  "variant": "varlen_decode", "sequences": seqs,
                                  "keys": keys, "q_heads": Q_HEADS, "kv_heads": KV_HEADS,
                                  "head_dim": DIM,
                                  "paged_function": "_mlir_ciface_" + name + "_paged",
                                  "page_size": page, "max_pages": max_pages,
                                  "pool_pages": pool_pages})
        source += varlen_decode_function(name, seqs, keys)
        source += varlen_decode_function(name + "_paged", seqs, keys,
                                         (page, max_pages, pool_pages))
    mrope_opt = os.path.join(args.build, "bin", "mrope-opt")
    runtime = os.path.join(args.build, "lib", "libmrope_cuda_runtime.so")
    shutil.copy(runtime, args.out)
    # The project's Python has numpy (scripts/setup.sh); the system's may not.
    pyenv = os.path.join(args.build, "pyenv", "bin", "python")
    python = pyenv if os.path.exists(pyenv) else sys.executable
    # Position ids: the functions and cases come from the mrope package.
    run([python, os.path.join(HERE, "gpu_positions_bench.py"), "--emit", args.out],
        env=dict(os.environ, PYTHONPATH=os.path.join(args.build, "python_packages")))
    with open(os.path.join(args.out, "positions.mlir")) as f:
        positions = f.read()
    for stem, text, extra in (("bench", source, ""),
                              ("attention_1stage", one_stage, " attention-stages=1"),
                              ("positions", positions, "")):
        mlir = os.path.join(args.out, stem + ".mlir")
        with open(mlir, "w") as f:
            f.write(text)
        lowered = run([mrope_opt, mlir,
                       f"--mrope-gpu-pipeline=chip={args.chip} features={args.features} "
                       f"format={args.format}{extra}"])
        llvm_ir = run([os.path.join(LLVM_BIN, "mlir-translate"), "--mlir-to-llvmir"],
                      input=lowered)
        ll = os.path.join(args.out, stem + ".ll")
        with open(ll, "w") as f:
            f.write(llvm_ir)
        library = "libmrope_gpu_bench.so" if stem == "bench" else f"libmrope_gpu_{stem}.so"
        run(["clang-22", "-shared", "-fPIC", "-O2", "-Wno-override-module", ll, "-o",
             os.path.join(args.out, library), "-L" + args.out,
             "-lmrope_cuda_runtime", "-Wl,-rpath,$ORIGIN"])
        os.remove(ll)
    for script in ("gpu_bench.py", "torch_peer.py", "gpu_attention_bench.py",
                   "gpu_common.py", "gpu_positions_bench.py"):
        shutil.copy(os.path.join(HERE, script), args.out)
    shutil.copy(os.path.join(SOURCE, "python", "mrope", "reference.py"), args.out)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"chip": args.chip, "format": args.format, "configs": configs,
                   "attention_configs": attention_configs}, f, indent=1)
    # The golden checks: mrope-conform, the designs it imports, the golden
    # files and one executable per run.
    conform = os.path.join(args.out, "conform")
    for sub in ("bin", "golden", "exe", os.path.join("python_packages", "mrope")):
        os.makedirs(os.path.join(conform, sub), exist_ok=True)
    shutil.copy(os.path.join(SOURCE, "tools", "mrope-conform", "mrope-conform.py"),
                os.path.join(conform, "bin", "mrope-conform"))
    shutil.copy(os.path.join(SOURCE, "python", "mrope", "designs.py"),
                os.path.join(conform, "python_packages", "mrope"))
    shutil.copy(runtime, os.path.join(conform, "exe"))
    gpu_args = ["--gpu", f"--gpu-chip={args.chip}", f"--gpu-features={args.features}",
                f"--gpu-format={args.format}"]
    lines = []
    for name, extra in CONFORMANCE:
        golden = os.path.join(SOURCE, "test", "golden", name)
        shutil.copy(golden, os.path.join(conform, "golden"))
        run([sys.executable, os.path.join(args.build, "bin", "mrope-conform"), *gpu_args,
             *extra, "--aot-build", os.path.join(conform, "exe"),
             "--cuda-runtime", runtime, golden])
        lines.append(" ".join(["python3 conform/bin/mrope-conform", *gpu_args, *extra,
                               "--prebuilt conform/exe", "conform/golden/" + name]))
    # The attention checks of test/GPU/attention-run.test, built here.
    attention = os.path.join(args.out, "attention")
    os.makedirs(attention, exist_ok=True)
    shutil.copy(runtime, attention)
    for script in (os.path.join(SOURCE, "test", "GPU", "Inputs", "attention_check.py"),
                   os.path.join(SOURCE, "tools", "mrope-gpu-emulate", "warp_emulator.py")):
        shutil.copy(script, attention)
    run([python, os.path.join(attention, "attention_check.py"), mrope_opt, "--gpu",
         "--lib-dir", attention, "--runtime", os.path.join(attention,
                                                           "libmrope_cuda_runtime.so"),
         "--build-only"])
    lines.append("python3 attention/attention_check.py --gpu --prebuilt attention")
    with open(os.path.join(args.out, "run.sh"), "w") as f:
        f.write('#!/bin/sh\n# On the GPU machine: every rotary golden case on the GPU, then\n'
                '# the benchmark (arguments go to gpu_bench.py).\n'
                'cd "$(dirname "$0")" || exit 1\nstatus=0\n')
        for line in lines:
            f.write(f'echo "== {line}"\nout=$({line} 2>&1) || status=1\n'
                    'printf "%s\\n" "$out" | tail -n 3\n')
        f.write('python3 gpu_positions_bench.py || status=1\n'
                'python3 gpu_bench.py "$@" || status=1\n'
                'python3 gpu_attention_bench.py "$@" || status=1\nexit $status\n')
    print(f"gpu_bundle: {len(configs)} configurations in {args.out}")


if __name__ == "__main__":
    main()
