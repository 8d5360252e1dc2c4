#!/usr/bin/env python3
"""mrope-conform: runs golden-vector files through the compiled mrope path.

    mrope-conform FILE.json [--emit] [--portable]

FILE.json is read as it is, in the schema of the project's golden vectors
(test/golden/*.json): hf_position_ids, paper_variants, rotary_*,
allocation_axis_maps or inv_freq_scaling. For every case the tool writes the
mrope IR (mrope.rope_index / mrope.position_ids, mrope.inv_freq,
mrope.attention_scaling, mrope.cos_sin, mrope.apply, mrope.decode_positions),
compiles it with `mrope-opt --mrope-cpu-pipeline`, runs it with
`mlir-runner`, reads the outputs back bit-exactly and compares them with the
stored ones: one line per case and quantity, then a summary
"N passed, N failed". With --emit it prints the computed outputs as
JSON in the same schema instead. With --portable, mrope-opt only lowers to
linalg-on-tensors and upstream mlir-opt compiles the rest.

Tolerances: integers exactly; float positions 1e-6 (or one float32 ulp);
inv_freq 1 ulp; attention_scaling 1e-12 relative; cos, sin and rotated q/k
1e-5 absolute (f32). (inv_freq and float positions in fact match bit for
bit: the compiler computes pow/atan2/cos/sin as torch's CPU kernels do,
SLEEF's algorithms; see include/mrope/Dialect/MRope/Utils/TorchMath.h.)
"""
import argparse
import hashlib
import copy
import json
import math
import os
import random
import re
import struct
import tempfile
import importlib.util
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LLVM = "/usr/lib/llvm-22"


def load_designs():
    """The Python package's paper-variant spellings (python/mrope/designs.py),
    from the build (bin/../python_packages) or the source tree."""
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, "..", "python_packages", "mrope", "designs.py"),
                 os.path.join(here, "..", "..", "python", "mrope", "designs.py")):
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location("mrope_designs", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    sys.exit("mrope-conform: cannot find mrope/designs.py (build the project)")


designs = load_designs()

ROTARY_TOLERANCE = 1e-5
# --variant attention: f32 attention with f32 accumulation against a float64
# softmax (mrope.reference.attention_error_bound's f32 bound).
ATTENTION_TOLERANCE = 1e-4


# ----------------------------------------------------------------------------
# IR text
# ----------------------------------------------------------------------------

def shape_of(x):
    s = []
    while isinstance(x, list):
        s.append(len(x))
        x = x[0] if x else None
    return s


def flatten(x):
    if isinstance(x, list):
        for v in x:
            yield from flatten(v)
    else:
        yield x


def fnum(v):
    return repr(float(v))


def ttype(shape, elem):
    return "tensor<" + "".join(f"{d}x" for d in shape) + elem + ">"


class Builder:
    """Accumulates functions whose outputs are printed bit-exactly."""

    def __init__(self):
        self.funcs = []
        self.outputs = []  # (key, elem, shape)
        self._n = 0

    def fresh(self, prefix):
        self._n += 1
        return f"%{prefix}{self._n}"

    def const(self, values, elem, shape=None):
        shape = shape if shape is not None else shape_of(values)
        flat = list(flatten(values))
        fmt = fnum if elem in ("f16", "bf16", "f32", "f64") else (lambda v: str(int(v)))
        name = self.fresh("c")
        t = ttype(shape, elem)
        count = len(flat)
        body = ", ".join(fmt(v) for v in flat)
        text = (f"  {name}_flat = arith.constant dense<[{body}]> : {ttype([count], elem)}\n"
                f"  {name}_shape = arith.constant dense<[{', '.join(map(str, shape))}]> "
                f": tensor<{len(shape)}xindex>\n"
                f"  {name} = tensor.reshape {name}_flat({name}_shape) : "
                f"({ttype([count], elem)}, tensor<{len(shape)}xindex>) -> {t}\n")
        return text, name, t

    def output(self, key, value, elem, shape):
        """IR printing `value` (tensor of elem) as exact i64 words."""
        self.outputs.append((key, elem, shape))
        rank = len(shape)
        t = ttype(shape, elem)
        dims = ", ".join(f"d{i}" for i in range(rank))
        out = self.fresh("o")
        text = f"  {out}_init = tensor.empty() : {ttype(shape, 'i64')}\n"
        if elem == "i64":
            converted = value
        else:
            body = {"i32": "    %x = arith.extsi %a : i32 to i64\n",
                    "bf16": "    %e = arith.extf %a : bf16 to f32\n"
                            "    %b = arith.bitcast %e : f32 to i32\n"
                            "    %x = arith.extsi %b : i32 to i64\n",
                    "f16": "    %e = arith.extf %a : f16 to f32\n"
                           "    %b = arith.bitcast %e : f32 to i32\n"
                           "    %x = arith.extsi %b : i32 to i64\n",
                    "f32": "    %b = arith.bitcast %a : f32 to i32\n"
                           "    %x = arith.extsi %b : i32 to i64\n",
                    "f64": "    %x = arith.bitcast %a : f64 to i64\n"}[elem]
            converted = out
            iterators = ", ".join(['"parallel"'] * rank)
            text += (f"  {out} = linalg.generic {{indexing_maps = [affine_map<({dims}) -> ({dims})>, "
                     f"affine_map<({dims}) -> ({dims})>], iterator_types = "
                     f"[{iterators}]}} ins({value} : {t}) "
                     f"outs({out}_init : {ttype(shape, 'i64')}) {{\n"
                     f"  ^bb0(%a: {elem}, %unused: i64):\n{body}"
                     f"    linalg.yield %x : i64\n  }} -> {ttype(shape, 'i64')}\n")
        text += (f"  {out}_u = tensor.cast {converted} : {ttype(shape, 'i64')} to tensor<*xi64>\n"
                 f"  {out}_m = bufferization.to_buffer {out}_u : tensor<*xi64> to memref<*xi64>\n"
                 f"  call @printMemrefI64({out}_m) : (memref<*xi64>) -> ()\n")
        return text

    def add(self, body):
        name = f"case{len(self.funcs)}"
        self.funcs.append(f"func.func @{name}() {{\n{body}  return\n}}\n")

    def module(self):
        calls = "".join(f"  call @case{i}() : () -> ()\n" for i in range(len(self.funcs)))
        return ("func.func private @printMemrefI64(memref<*xi64>)\n" +
                "\n".join(self.funcs) +
                f"func.func @main() {{\n{calls}  return\n}}\n")


def decode(elem, words):
    if elem in ("i64", "i32"):
        return [int(w) for w in words]
    if elem in ("f32", "bf16", "f16"):
        return [struct.unpack("<f", struct.pack("<i", int(w)))[0] for w in words]
    return [struct.unpack("<d", struct.pack("<q", int(w)))[0] for w in words]


def round_to(x, dtype):
    """x (a float32 value) rounded to nearest-even in dtype, as a float."""
    if dtype == "f32":
        return struct.unpack("<f", struct.pack("<f", x))[0]
    if dtype == "f16":
        return struct.unpack("<e", struct.pack("<e", x))[0]
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits += 0x7FFF + ((bits >> 16) & 1)
    return struct.unpack("<f", struct.pack("<I", (bits >> 16) << 16))[0]


def map_nested(fn, x):
    return [map_nested(fn, v) for v in x] if isinstance(x, list) else fn(x)


def hf_rotation(q, cos, sin, dtype):
    """Hugging Face's q*cos + rotate_half(q)*sin in `dtype`: cos/sin rounded to
    the activation type, every product and the sum rounded (torch CPU)."""
    r = lambda v: round_to(v, dtype)
    out = []
    for b, heads in enumerate(q):
        table = lambda t, h: t[b][h] if len(shape_of(t)) == 4 else t[b]
        out.append([])
        for h, tokens in enumerate(heads):
            c_h, s_h = table(cos, h * len(cos[b]) // len(heads) if len(shape_of(cos)) == 4 else 0), \
                table(sin, h * len(sin[b]) // len(heads) if len(shape_of(sin)) == 4 else 0)
            rows = []
            for n, x in enumerate(tokens):
                d = len(x)
                half = d // 2
                row = []
                for j in range(d):
                    partner = -x[j + half] if j < half else x[j - half]
                    a = r(x[j] * r(c_h[n][j]))
                    t = r(partner * r(s_h[n][j]))
                    row.append(r(a + t))
                rows.append(row)
            out[-1].append(rows)
    return out


def reshape(flat, shape):
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def excerpt(text, limit=4000):
    """The start of a tool's error output (where the message is) and its end,
    not a truncated stack trace only."""
    if len(text) <= limit:
        return text
    return text[:limit // 2] + "\n[...]\n" + text[-limit // 2:]


# The AOT executables' entry point and the one runtime function the printed
# outputs need, so they run where no LLVM/MLIR is installed (the GPU machine).
AOT_STUB = r"""
#include <stdint.h>
#include <stdio.h>
void mrope_conform_main(void);
/* printMemrefI64 of the MLIR runner utils, reduced to what is parsed: the
   header and every element in row-major order. */
void printMemrefI64(int64_t rank, void *descriptor) {
  int64_t *f = (int64_t *)descriptor;
  int64_t *data = (int64_t *)f[1] + f[2], *sizes = f + 3, *strides = f + 3 + rank;
  int64_t count = 1;
  for (int64_t r = 0; r < rank; ++r)
    count *= sizes[r];
  printf("Unranked Memref rank = %ld data = \n[", (long)rank);
  for (int64_t i = 0; i < count; ++i) {
    int64_t rest = i, offset = 0;
    for (int64_t r = rank - 1; r >= 0; --r) {
      offset += (rest % sizes[r]) * strides[r];
      rest /= sizes[r];
    }
    printf(i ? ", %ld" : "%ld", (long)data[offset]);
  }
  printf("]\n");
}
int main(void) {
  mrope_conform_main();
  return 0;
}
"""


def run_prebuilt(args):
    """--prebuilt DIR: runs the executable --aot-build made for this input
    (same input and options, same name)."""
    exe = os.path.join(args.prebuilt, args.aot_key)
    if not os.path.exists(exe):
        sys.exit(f"mrope-conform: no prebuilt executable {exe} for this input "
                 "(build it with the same arguments and --aot-build)")
    result = subprocess.run([exe], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"mrope-conform: {exe} failed:\n{excerpt(result.stderr)}")
    return result


# --target: the CPU pipeline's options for the target (no host-specific
# vector width or x86 instructions), clang's target and how to run the
# executable there (qemu-user with the target's libc).
TARGETS = {
    "aarch64": {"pipeline": "vector-bits=128 avx512-bf16=0",
                "clang": ["--target=aarch64-linux-gnu"],
                "run": ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]},
}


def link_executable(lowered, base, args):
    """Links the lowered module with the stub's main (printing its outputs)
    into the executable `base`, for args.target or the host."""
    source = lowered.replace("llvm.func @main()", "llvm.func @mrope_conform_main()")
    llvm_ir = subprocess.run([os.path.join(LLVM, "bin", "mlir-translate"), "--mlir-to-llvmir"],
                             input=source, capture_output=True, text=True)
    if llvm_ir.returncode != 0:
        sys.exit(f"mrope-conform: mlir-translate failed:\n{excerpt(llvm_ir.stderr)}")
    with open(base + ".ll", "w") as f:
        f.write(llvm_ir.stdout)
    with open(base + "_main.c", "w") as f:
        f.write(AOT_STUB)
    runtime = []
    if args.gpu:
        runtime = ["-L" + os.path.dirname(os.path.abspath(args.cuda_runtime)),
                   "-lmrope_cuda_runtime", "-Wl,-rpath,$ORIGIN"]
    cross = TARGETS[args.target]["clang"] if args.target else []
    link = subprocess.run(["clang-22", *cross, "-O1", "-Wno-override-module", base + ".ll",
                           base + "_main.c", "-o", base, "-lm", *runtime],
                          capture_output=True, text=True)
    os.remove(base + ".ll")
    os.remove(base + "_main.c")
    if link.returncode != 0:
        sys.exit(f"mrope-conform: linking {base} failed:\n{excerpt(link.stderr)}")


def build_executable(lowered, args):
    """--aot-build DIR: links the lowered module into DIR/<name of the input>
    and exits."""
    os.makedirs(args.aot_build, exist_ok=True)
    base = os.path.join(args.aot_build, args.aot_key)
    link_executable(lowered, base, args)
    print(f"mrope-conform: built {base}")
    sys.exit(0)


def run_on_target(lowered, args):
    """--target: builds the executable for the target and runs it there
    (emulated)."""
    with tempfile.TemporaryDirectory() as workdir:
        base = os.path.join(workdir, args.aot_key)
        link_executable(lowered, base, args)
        runner = TARGETS[args.target]["run"]
        try:
            result = subprocess.run([*runner, base], capture_output=True, text=True)
        except OSError as e:
            sys.exit(f"mrope-conform: --target {args.target}: cannot run {runner[0]}: {e}")
    if result.returncode != 0:
        sys.exit(f"mrope-conform: {args.target} executable failed:\n{excerpt(result.stderr)}")
    return result


def run(builder, args):
    source = builder.module()
    # Executables are named by the input and everything that selects how it
    # is compiled, so a prebuilt one is only ever used for the same build.
    mode = (f"gpu={args.gpu} on_host={args.gpu_kernel_on_host} target={args.target} "
            f"slices={args.head_slices} chip={args.gpu_chip} {args.gpu_features} "
            f"{args.gpu_format}")
    args.aot_key = hashlib.sha1((mode + "\n" + source).encode()).hexdigest()[:16]
    if args.prebuilt:  # nothing to compile: the executable was built elsewhere
        result = run_prebuilt(args)
    else:
        result = compile_and_run(source, args)
    blocks = result.stdout.split("Unranked Memref")[1:]
    if len(blocks) != len(builder.outputs):
        sys.exit(f"mrope-conform: expected {len(builder.outputs)} outputs, "
                 f"got {len(blocks)}")
    values = {}
    for block, (key, elem, shape) in zip(blocks, builder.outputs):
        words = re.findall(r"-?\d+", block.split("data =", 1)[1])
        values[key] = reshape(decode(elem, words), shape)
    return values


def compile_and_run(source, args):
    """Lowers the module with the selected pipeline and runs it (or, with
    --aot-build, builds the executable and exits)."""
    if args.portable:
        steps = [[args.mrope_opt, "-", "--mrope-to-linalg-pipeline"],
                 [args.mlir_opt, "-", "--pass-pipeline=builtin.module("
                  "one-shot-bufferize{bufferize-function-boundaries "
                  "function-boundary-type-conversion=identity-layout-map},"
                  "buffer-deallocation-pipeline,convert-linalg-to-loops,"
                  "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
                  "convert-vector-to-llvm,convert-to-llvm,reconcile-unrealized-casts)"]]
    elif args.gpu:
        # Kernels on the GPU on copies of the host data; the rest on the CPU.
        steps = [[args.mrope_opt, "-", "--mrope-gpu-pipeline=host-buffers=true "
                  f"head-slices={args.head_slices} chip={args.gpu_chip} "
                  f"features={args.gpu_features} format={args.gpu_format}"]]
    elif args.gpu_kernel_on_host:
        # The GPU lowering's kernel body, looped over thread ids on the host:
        # its indexing and arithmetic checked without a GPU.
        steps = [[args.mrope_opt, "-",
                  "--convert-mrope-to-gpu=host-loop=true head-slices="
                  f"{args.head_slices}", "--mrope-cpu-pipeline"]]
    elif args.threads:
        # Tiles of 3 tokens in tasks of 4 tokens (2 tiles), so the golden
        # cases' few dozen tokens are really split across the thread pool and
        # tiles (where the cos/sin caches start empty) begin inside image rows.
        steps = [[args.mrope_opt, "-",
                  "--mrope-cpu-pipeline=threads=true task-size=4 token-tile=3"]]
    elif args.target:
        steps = [[args.mrope_opt, "-",
                  f"--mrope-cpu-pipeline={TARGETS[args.target]['pipeline']}"]]
    else:
        steps = [[args.mrope_opt, "-", "--mrope-cpu-pipeline"]]
    for step in steps:
        result = subprocess.run(step, input=source, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"mrope-conform: {os.path.basename(step[0])} failed:\n"
                     f"{excerpt(result.stderr)}")
        source = result.stdout
    if args.aot_build:
        build_executable(source, args)
    elif args.target:
        result = run_on_target(source, args)
    else:
        runtimes = ["c_runner_utils", "runner_utils"]
        if args.threads:
            runtimes.append("async_runtime")
        libs = ",".join(os.path.join(args.lib_dir, f"libmlir_{l}.so")
                        for l in runtimes)
        if args.gpu:
            libs += "," + args.cuda_runtime
        # With threads the runner must optimize: LLVM 22's instruction
        # selection fails on the unoptimized coroutine IR of the async runtime
        # lowering ("Do not know how to promote this operator's operand") at
        # the runner's default levels; -O3 (IR and codegen) compiles it.
        opt_level = ["-O3"] if args.threads else []
        result = subprocess.run([args.mlir_runner, *opt_level, "-e", "main",
                                 "-entry-point-result=void",
                                 f"-shared-libs={libs}"], input=source,
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"mrope-conform: mlir-runner failed:\n{excerpt(result.stderr)}")
    return result


# ----------------------------------------------------------------------------
# Input validation: each file kind's fields, checked before any IR is
# written, so bad input ends with "FILE: path.to.field: rule".
# ----------------------------------------------------------------------------

class BadInput(Exception):
    """A field breaks a rule; str() is "path: rule"."""

    def __init__(self, path, rule):
        super().__init__(f"{path or '(top level)'}: {rule}")


def kind_of(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


class Int:
    """An integer (not a boolean) in [lo, hi]."""

    def __init__(self, lo=-(2 ** 62), hi=2 ** 62):
        self.lo, self.hi = lo, hi

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadInput(path, f"expected an integer, got {kind_of(value)}")
        if not self.lo <= value <= self.hi:
            raise BadInput(path, f"{value} is outside [{self.lo}, {self.hi}]")


class Num:
    """A finite number (integer or float, not a boolean), optionally > 0,
    optionally within float32's range (values compared as float32)."""

    def __init__(self, positive=False, f32=False):
        self.positive, self.f32 = positive, f32

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(path, f"expected a number, got {kind_of(value)}")
        if isinstance(value, int) and abs(value) > 2 ** 62 or \
                isinstance(value, float) and not math.isfinite(value) or \
                abs(value) > 1e300:
            raise BadInput(path, f"{value!r} is not a finite number of sensible size")
        if self.positive and not value > 0:
            raise BadInput(path, f"{value!r} must be positive")
        if self.f32 and abs(value) > 3.4028234663852886e38:
            raise BadInput(path, f"{value!r} is outside the float32 range")


class Str:
    def __init__(self, choices=None):
        self.choices = choices

    def check(self, value, path):
        if not isinstance(value, str) or not value:
            raise BadInput(path, f"expected a non-empty string, got {kind_of(value)}")
        if self.choices is not None and value not in self.choices:
            raise BadInput(path, f"{value!r} is not one of {', '.join(sorted(self.choices))}")


class Bool:
    def check(self, value, path):
        if not isinstance(value, bool):
            raise BadInput(path, f"expected true or false, got {kind_of(value)}")


class AnyOf:
    def __init__(self, *options):
        self.options = options

    def check(self, value, path):
        errors = []
        for option in self.options:
            try:
                option.check(value, path)
                return
            except BadInput as e:
                errors.append(str(e).split(": ", 1)[1])
        raise BadInput(path, " or ".join(errors))


class Nullable:
    """null, or a value following `schema` (whose rule a non-null value gets)."""

    def __init__(self, schema):
        self.schema = schema

    def check(self, value, path):
        if value is not None:
            self.schema.check(value, path)


class ListOf:
    def __init__(self, item, min_len=1, max_len=100000):
        self.item, self.min_len, self.max_len = item, min_len, max_len

    def check(self, value, path):
        if not isinstance(value, list):
            raise BadInput(path, f"expected a list, got {kind_of(value)}")
        if not self.min_len <= len(value) <= self.max_len:
            raise BadInput(path, f"has {len(value)} entries, expected "
                                 f"{self.min_len} to {self.max_len}")
        for i, v in enumerate(value):
            self.item.check(v, f"{path}[{i}]")


class Tensor:
    """A rectangular nested list of `rank` non-empty dims (any rank if None)
    whose elements follow `elem`; at most 2^22 elements."""

    def __init__(self, elem, rank=None):
        self.elem, self.rank = elem, rank

    def check(self, value, path):
        shape, x = [], value
        while isinstance(x, list):
            if not x:
                raise BadInput(path, "has an empty dimension")
            shape.append(len(x))
            x = x[0]
        if not shape:
            raise BadInput(path, f"expected a nested list (tensor), got {kind_of(value)}")
        if self.rank is not None and len(shape) != self.rank:
            raise BadInput(path, f"expected rank {self.rank}, got shape {shape}")
        if math.prod(shape) > 2 ** 22:
            raise BadInput(path, f"shape {shape} is too large")

        def walk(x, depth, where):
            if depth == len(shape):
                self.elem.check(x, where)
                return
            if not isinstance(x, list) or len(x) != shape[depth]:
                raise BadInput(where, f"is not rectangular (expected {shape[depth]} "
                                      f"entries like the first, got "
                                      f"{len(x) if isinstance(x, list) else kind_of(x)})")
            for i, v in enumerate(x):
                walk(v, depth + 1, f"{where}[{i}]")
        walk(value, 0, path)


class Obj:
    """An object with `required` and `optional` fields (others are ignored)."""

    def __init__(self, required, optional=None):
        self.required, self.optional = required, optional or {}

    def check(self, value, path):
        if not isinstance(value, dict):
            raise BadInput(path, f"expected an object, got {kind_of(value)}")
        for key, schema in self.required.items():
            if key not in value:
                raise BadInput(f"{path}.{key}" if path else key, "is missing")
            schema.check(value[key], f"{path}.{key}" if path else key)
        for key, schema in self.optional.items():
            if key in value:
                schema.check(value[key], f"{path}.{key}" if path else key)


class MapOf:
    """An object whose keys are among `keys` (at least one), each a `value`."""

    def __init__(self, value, keys):
        self.value, self.keys = value, keys

    def check(self, value, path):
        if not isinstance(value, dict) or not value:
            raise BadInput(path, f"expected a non-empty object, got {kind_of(value)}")
        for key, v in value.items():
            if key not in self.keys:
                raise BadInput(f"{path}.{key}", f"unknown key (expected one of "
                                                f"{', '.join(self.keys)})")
            self.value.check(v, f"{path}.{key}")


INT, NUM, POSITIVE, F32 = Int(), Num(), Num(positive=True), Num(f32=True)
DIM = Int(1, 1 << 16)
SECTION = Tensor(Int(0, 1 << 16), 1)
VERSIONS = ("v449", "v457", "head")
ROPE_PARAMETERS = Obj(
    {"rope_type": Str({"default", "linear", "dynamic", "yarn", "longrope", "llama3"}),
     "rope_theta": POSITIVE},
    {k: POSITIVE for k in ("factor", "partial_rotary_factor", "beta_fast", "beta_slow",
                           "mscale", "mscale_all_dim", "attention_factor",
                           "low_freq_factor", "high_freq_factor")} |
    {"original_max_position_embeddings": DIM, "truncate": Bool(),
     "short_factor": Tensor(POSITIVE, 1), "long_factor": Tensor(POSITIVE, 1)})
CONFIG_TOP_LEVEL = Obj({"head_dim": DIM, "max_position_embeddings": Int(1, 1 << 40)},
                       {"original_max_position_embeddings": Int(1, 1 << 40)})
PAPER_VARIANT_NAMES = {"circlerope", "grape", "hope", "ilrope", "mhrope", "mmrope", "mrope",
                       "mrope-interleave", "omnirope", "v2pe", "vanilla-rope", "videorope"}
PAPER_KWARGS = {"mrope_section": SECTION, "frequency_allocation": Str(),
                "temporal_stride": NUM, "spatial_reset": Bool(), "move_to_origin": Bool(),
                "dff_rate": AnyOf(Bool(), NUM), "method": Str(), "radius": NUM, "alpha": NUM,
                "move_to_positive": AnyOf(Bool(), Str(), NUM), "visual_stride": NUM,
                "position_scale": Tensor(NUM, 1), "num_key_value_heads": DIM}
SCHEMAS = {
    "hf_position_ids": Obj({"cases": ListOf(Obj(
        {"name": Str(), "model_rules": Str({"qwen2vl", "qwen25vl", "qwen3vl"}),
         "input_ids": Tensor(INT, 2),
         "image_grid_thw": Nullable(Tensor(INT, 2)), "video_grid_thw": Nullable(Tensor(INT, 2)),
         "attention_mask": Nullable(Tensor(INT, 2)),
         "second_per_grid_ts": Nullable(Tensor(F32, 1)),
         "outputs": MapOf(Obj({"position_ids": Tensor(INT, 3), "rope_deltas": Tensor(INT, 2),
                               "decode_positions_next3": Tensor(INT, 2)}), VERSIONS)},
        {"tokens_per_second": Nullable(POSITIVE)}))}),
    "inv_freq_scaling": Obj({"cases": ListOf(Obj(
        {"name": Str(), "rope_parameters": ROPE_PARAMETERS, "config_top_level": CONFIG_TOP_LEVEL,
         "seq_len_arg": Nullable(Int(1, 1 << 40)),
         "results": MapOf(Obj({"inv_freq": Tensor(F32, 1), "attention_scaling": NUM}),
                          VERSIONS)}))},
        {"dynamic_via_module": Obj(
            {"config": Obj({"head_dim": DIM, "rope_theta": POSITIVE, "factor": POSITIVE,
                            "max_position_embeddings": Int(1, 1 << 40),
                            "mrope_section": SECTION}),
             "position_ids": Tensor(INT, 3), "inv_freq_after_call": Tensor(F32, 1),
             "cos": Tensor(F32, 3), "sin": Tensor(F32, 3)})}),
    "rotary": Obj({"cases": ListOf(Obj(
        {"allocation": Str(), "head_dim": DIM, "rope_theta": POSITIVE,
         "position_ids": Tensor(INT, 3), "inv_freq": Tensor(F32, 1),
         "cos": Tensor(F32), "sin": Tensor(F32), "q": Tensor(F32, 4), "k": Tensor(F32, 4),
         "q_rot": Tensor(F32, 4), "k_rot": Tensor(F32, 4)},
        {"mrope_section": SECTION, "mrope_section_heads": SECTION}))}),
    "paper_variants": Obj(
        {"mixed_case": Obj({"input_ids": Tensor(INT, 1), "image_grid_thw": Tensor(INT, 2),
                            "video_grid_thw": Tensor(INT, 2)}),
         "variants": ListOf(Obj(
             {"variant": Str(PAPER_VARIANT_NAMES), "label": Str(),
              "kwargs": Obj({"dim": DIM, "base": POSITIVE}, PAPER_KWARGS),
              "position_ids": Tensor(F32, 3), "rope_deltas": Tensor(F32, 2),
              "cos": Tensor(F32), "sin": Tensor(F32), "q_rot": Tensor(F32, 4)}), min_len=0)},
        {"padded_batch": Obj(
            {"input_ids": Tensor(INT, 2), "attention_mask": Tensor(INT, 2),
             "image_grid_thw": Tensor(INT, 2), "video_grid_thw": Tensor(INT, 2),
             "results": ListOf(Obj({"variant": Str(PAPER_VARIANT_NAMES),
                                    "kwargs": Obj({}, PAPER_KWARGS),
                                    "position_ids": Tensor(F32, 3),
                                    "rope_deltas": Tensor(F32, 2)}))})}),
    "allocation_maps": Obj({"maps": ListOf(Obj(
        {"alloc": Str(), "head_dim": DIM},
        {"mrope_section": SECTION, "pairs": Str(), "num_key_value_heads": DIM,
         "mrope_section_heads": SECTION, "kv_heads": ListOf(Str())}))}),
    "long_context": Obj({"long_context": Obj(
        {"positions": ListOf(Int(0, (1 << 24) - 1), min_len=0, max_len=4096),
         "random_positions": Obj({"seed": INT, "count": Int(0, 4096),
                                  "max": Int(0, (1 << 24) - 1)}),
         "configs": ListOf(Obj(
             {"name": Str(), "rope_parameters": ROPE_PARAMETERS,
              "config_top_level": CONFIG_TOP_LEVEL, "mrope_section": SECTION},
             {"attention_scaling": POSITIVE, "seq_len": Nullable(Int(1, 1 << 40))}),
             max_len=16)})}),
}


# ----------------------------------------------------------------------------
# Comparison
# ----------------------------------------------------------------------------

STATUS_RULES = {
    1: "the grid's token count does not match the block's pad tokens ({d} found)",
    2: "more grids than visual blocks ({d} unused)",
    3: "a visual block has no grid left (grid {d})",
    4: "a grid size is zero or negative ({d})",
    5: "a grid's h or w ({d}) is not divisible by spatial_merge_size",
    6: "a position overflows 2^53 ({d})",
    7: "the row has no unpadded token",
}


def describe_status(status):
    """The rule a non-zero mrope.rope_index status names, in words."""
    code, seq, block, detail = status
    if code == 0:
        return "ok"
    if code == 1 and detail == -1:
        rule = "more pad tokens than the grid's token count"
    else:
        rule = STATUS_RULES.get(code, f"unknown status code {code}").format(d=detail)
    where = [] if seq < 0 else [f"sequence {seq}"]
    if block >= 0:
        where.append(f"block {block}")
    return (", ".join(where) + ": " if where else "") + rule


class Report:
    def __init__(self):
        self.passed = self.failed = 0

    def line(self, status, label, detail):
        print(f"{status} {label}: {detail}")
        if status == "PASS":
            self.passed += 1
        else:
            self.failed += 1

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def f32_ulp(x):
    if x == 0:
        return 2.0 ** -149
    return 2.0 ** (math.frexp(abs(x))[1] - 24)


def ulp_distance(a, b):
    def key(x):
        i = struct.unpack("<i", struct.pack("<f", x))[0]
        return -2**31 - i if i < 0 else i
    return abs(key(a) - key(b))


def max_abs(got, want):
    g, w = list(flatten(got)), list(flatten(want))
    if len(g) != len(w):
        return float("inf")
    worst = 0.0
    for a, b in zip(g, w):
        d = abs(a - b)
        if d != d:
            return float("nan")
        worst = max(worst, d)
    return worst


def to_f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bit_exact(got, want):
    """Every value equals the reference's float32 (NaN matching NaN)."""
    g, w = list(flatten(got)), list(flatten(want))
    return len(g) == len(w) and all(
        a == to_f32(b) or (a != a and b != b) for a, b in zip(g, w))


def check_abs(report, label, got, want, tol):
    worst = max_abs(got, want)
    if worst <= tol:
        report.line("PASS", label, "bit-exact" if bit_exact(got, want)
                    else f"max abs diff {worst:.3g}")
    else:
        report.line("FAIL", label, f"max abs diff {worst:.3g} (tolerance {tol:g})")


def check_positions(report, label, got, want):
    """Integers exactly; floats to 1e-6 (or one float32 ulp), and reported
    as bit-exact when every value equals the reference's float32."""
    g, w = list(flatten(got)), list(flatten(want))
    worst, ok, exact = 0.0, len(g) == len(w), len(g) == len(w)
    for a, b in zip(g, w):
        d = abs(a - b)
        worst = max(worst, d)
        if d > max(1e-6, f32_ulp(b)) if isinstance(b, float) else d != 0:
            ok = False
        if isinstance(b, float) and a != to_f32(b) or not isinstance(b, float) and d != 0:
            exact = False
    if ok:
        report.line("PASS", label, "bit-exact" if exact else f"max abs diff {worst:.3g}")
    else:
        report.line("FAIL", label, f"max abs diff {worst:.3g}")


# ----------------------------------------------------------------------------
# Schemas
# ----------------------------------------------------------------------------

MERGE = 2
VISION_START, IMAGE_PAD, VIDEO_PAD = 151652, 151655, 151656


def segments_of_batch(input_ids, mask, image_grids, video_grids, split_frames,
                      where="mixed_case"):
    """Static segments per row, found as transformers 4.49-4.57 find blocks.
    Grids that cannot describe a block raise BadInput naming the field."""
    for field, grids in (("image_grid_thw", image_grids), ("video_grid_thw", video_grids)):
        for n, g in enumerate(grids or []):
            if len(g) != 3 or min(g) < 1:
                raise BadInput(f"{where}.{field}[{n}]", f"{g} must be three positive sizes t, h, w")
            if g[1] % MERGE or g[2] % MERGE:
                raise BadInput(f"{where}.{field}[{n}]",
                               f"h and w of {g} must be divisible by spatial_merge_size {MERGE}")
            # Checked before frames are expanded: a huge t would otherwise
            # build a list of t frames.
            tokens = g[0] * (g[1] // MERGE) * (g[2] // MERGE)
            available = sum(len(row) for row in input_ids)
            if tokens > available:
                raise BadInput(f"{where}.{field}[{n}]",
                               f"{g} covers {tokens} tokens, more than input_ids holds ({available})")
    image_grids = list(image_grids or [])
    videos = []
    for g in video_grids or []:
        videos += [[1, g[1], g[2]]] * g[0] if split_frames else [g]
    rows = []
    for b, ids in enumerate(input_ids):
        m = mask[b] if mask else [1] * len(ids)
        segs = []
        i = 0
        while i < len(ids):
            if m[i] != 1:
                kind, n = "pad", 1
            elif ids[i] in (IMAGE_PAD, VIDEO_PAD):
                grids = image_grids if ids[i] == IMAGE_PAD else videos
                if not grids:
                    raise BadInput(f"{where}.input_ids" + (f"[{b}]" if mask else "") + f"[{i}]",
                                   "a vision pad token with no grid left in "
                                   + ("image_grid_thw" if ids[i] == IMAGE_PAD else "video_grid_thw"))
                grid = grids.pop(0)
                t, h, w = grid[0], grid[1] // MERGE, grid[2] // MERGE
                kind = ("image" if ids[i] == IMAGE_PAD else "video") + f" {t}x{h}x{w}"
                n = t * h * w
            else:
                kind, n = "text", 1
            if kind in ("pad", "text") and segs and segs[-1][0] == kind:
                segs[-1][1] += n
            else:
                segs.append([kind, n])
            i += n
        rows.append(", ".join(k if k not in ("pad", "text") else f"{k} {n}"
                              for k, n in segs))
    return "[" + ", ".join(f"[{r}]" for r in rows) + "]"


def hf_position_ids(data, args):
    b = Builder()
    plan = []
    for case in data["cases"]:
        rules = case["model_rules"]
        tps = case.get("tokens_per_second")
        for version in case["outputs"]:
            design = designs.golden_rules_design(rules, version, tps)
            ids = case["input_ids"]
            batch, length = len(ids), len(ids[0])
            text, v, t = b.const(ids, "i64")
            body, operands = text, ""
            for key, word, elem in (("attention_mask", "mask", "i64"),
                                    ("image_grid_thw", "images", "i64"),
                                    ("video_grid_thw", "videos", "i64")):
                if case[key]:
                    text, name, tt = b.const(case[key], elem)
                    body += text
                    operands += f" {word}({name} : {tt})"
            if case["second_per_grid_ts"] is not None and rules == "qwen25vl" and case["video_grid_thw"]:
                text, name, tt = b.const(case["second_per_grid_ts"], "f32")
                body += text
                operands += f" second_per_grid({name} : {tt})"
            key = f"{rules}/{case['name']}/{version}"
            res = (f"{ttype([3, batch, length], 'i64')}, {ttype([batch, 1], 'i64')}, "
                   f"{ttype([batch], 'i64')}, tensor<4xi64>")
            p, d, n, s = (b.fresh(x) for x in "pdns")
            body += f"  {p}, {d}, {n}, {s} = mrope.rope_index {v}{operands} design {design} : {t} -> {res}\n"
            dec = b.fresh("dec")
            body += f"  {dec} = mrope.decode_positions {n} : {ttype([batch], 'i64')} -> {ttype([3, batch, 3], 'i64')}\n"
            body += b.output(key + "/positions", p, "i64", [3, batch, length])
            body += b.output(key + "/deltas", d, "i64", [batch, 1])
            body += b.output(key + "/decode", dec, "i64", [3, batch, 3])
            body += b.output(key + "/status", s, "i64", [4])
            b.add(body)
            plan.append((case, version, key))
    values = run(b, args)
    if args.emit:
        out = copy.deepcopy(data)
        for case in out["cases"]:
            for version, result in case["outputs"].items():
                key = f"{case['model_rules']}/{case['name']}/{version}"
                result["position_ids"] = values[key + "/positions"]
                result["rope_deltas"] = values[key + "/deltas"]
                result["decode_positions_next3"] = values[key + "/decode"][0]
                result["status"] = values[key + "/status"]
        return out
    report = Report()
    for case, version, key in plan:
        want = case["outputs"][version]
        ok = (values[key + "/positions"] == want["position_ids"] and
              values[key + "/deltas"] == want["rope_deltas"] and
              values[key + "/decode"][0] == want["decode_positions_next3"] and
              values[key + "/status"][0] == 0)
        status = values[key + "/status"]
        report.line("PASS" if ok else "FAIL", key,
                    f"positions, rope_deltas, decode positions "
                    f"{'exact' if ok else 'differ'}; {describe_status(status)}")
    return report


def rotary_body(b, key, positions, pos_elem, theta, alloc, dim, q, k, cos_shape,
                dtype="f32", layout="bhsd", pairs="neox", scale=1.0, dynamic=False):
    """IR for inv_freq, cos_sin and apply (forward and inverse) of one case.
    With `dynamic`, apply sees q, k and positions with every dim unknown but
    the channels (and the head counts, which head-partitioned allocations
    need), through tensor.cast."""
    text, pos, pos_t = b.const(positions, pos_elem)
    body = text
    text, qv, q_t = b.const(map_nested(lambda v: round_to(v, dtype), q), dtype)
    body += text
    text, kv, k_t = b.const(map_nested(lambda v: round_to(v, dtype), k), dtype)
    body += text
    static = (pos, pos_t, qv, q_t, kv, k_t)
    if dynamic:
        head_dim = {"bhsd": 1, "bshd": 2, "thd": 1}[layout]
        keep_heads = "head_partitioned" in alloc

        def erase(t, keep):
            dims = t[len("tensor<"):-1].split("x")
            elem = dims.pop()
            return ttype([d if i in keep else "?" for i, d in enumerate(dims)], elem)

        act_keep = {len(shape_of(q)) - 1} | ({head_dim} if keep_heads else set())
        casts = []
        for value, t, keep in ((pos, pos_t, {0}), (qv, q_t, act_keep), (kv, k_t, act_keep)):
            name, dyn_t = b.fresh("dyn"), erase(t, keep)
            body += f"  {name} = tensor.cast {value} : {t} to {dyn_t}\n"
            casts.append((name, dyn_t))
        (pos, pos_t), (qv, q_t), (kv, k_t) = casts
    inv_t = ttype([dim // 2], "f32")
    f = b.fresh("f")
    body += f"  {f} = mrope.inv_freq theta = {fnum(theta)} : {inv_t}\n"
    extra = (", pairs = gptj" if pairs == "gptj" else "") + \
        (f", attention_scaling = {fnum(scale)}" if scale != 1.0 else "")
    rotary = f"rotary <alloc = {alloc}{extra}, rotary_dim = {dim}>"
    qr, kr, qi, ki, c, s = (b.fresh(x) for x in ("qr", "kr", "qi", "ki", "cos", "sin"))
    body += (f"  {qr}, {kr} = mrope.apply {qv}, {kv} positions({pos} : {pos_t}) "
             f"freqs({f} : {inv_t}) layout {layout} {rotary} : {q_t}, {k_t}\n")
    body += (f"  {qi}, {ki} = mrope.apply {qr}, {kr} positions({pos} : {pos_t}) "
             f"freqs({f} : {inv_t}) layout {layout} {rotary} inverse : {q_t}, {k_t}\n")
    cos_t = ttype(cos_shape, "f32")
    if dynamic:
        pos, pos_t = static[0], static[1]
    if layout != "thd":
        body += (f"  {c}, {s} = mrope.cos_sin {pos}, {f} {rotary} : {pos_t}, {inv_t} "
                 f"-> {cos_t}, {cos_t}\n")
        body += b.output(key + "/cos", c, "f32", cos_shape)
        body += b.output(key + "/sin", s, "f32", cos_shape)
    if dynamic:
        # Results back to their static types for printing; cos_sin on the
        # static positions.
        for name, t in ((qr, static[3]), (kr, static[5]), (qi, static[3])):
            body += f"  {name}_s = tensor.cast {name} : {q_t if t == static[3] else k_t} to {t}\n"
        qr, kr, qi = qr + "_s", kr + "_s", qi + "_s"
    body += b.output(key + "/inv_freq", f, "f32", [dim // 2])
    body += b.output(key + "/q_rot", qr, dtype, shape_of(q))
    body += b.output(key + "/k_rot", kr, dtype, shape_of(k))
    body += b.output(key + "/q_inverse", qi, dtype, shape_of(q))
    return body


def transform_case(c, variant):
    """The case seen through another layout, pair layout, partial rotary or
    attention scaling: inputs and expected outputs transformed by identities
    of the rotation, so the golden data checks those code paths too."""
    c = copy.deepcopy(c)
    cfg = {"layout": "bhsd", "pairs": "neox", "scale": 1.0, "inverse_gain": 1.0}
    activations = ("q", "k", "q_rot", "k_rot")
    if variant == "bshd":
        for key in activations:
            c[key] = [[[x[b][h][t] for h in range(len(x[b]))] for t in range(len(x[b][0]))]
                      for b in range(len(x))] if (x := c[key]) else x
        cfg["layout"] = "bshd"
    elif variant == "thd":
        # Packed: the single sequence's tokens, positions [3, T].
        for key in activations:
            x = c[key][0]
            c[key] = [[x[h][t] for h in range(len(x))] for t in range(len(x[0]))]
        c["position_ids"] = [row[0] for row in c["position_ids"]]
        cfg["layout"] = "thd"
    elif variant == "gptj":
        # GPT-J rotates (2j, 2j+1); interleaving the NeoX halves maps one onto
        # the other, for the inputs, the outputs and the tables alike.
        def interleave(v):
            half = len(v) // 2
            return [v[j // 2] if j % 2 == 0 else v[half + j // 2] for j in range(len(v))]
        for key in activations + ("cos", "sin"):
            c[key] = map_rows(interleave, c[key])
        cfg["pairs"] = "gptj"
    elif variant == "partial":
        # 8 extra channels that the rotation must pass through untouched.
        for key, src in (("q", "q"), ("k", "k"), ("q_rot", "q"), ("k_rot", "k")):
            c[key] = map_rows_with(lambda out, inp: out + inp[:8], c[key], c[src])
        cfg["partial"] = True
    elif variant == "dynamic":
        # Same data; the IR hides the shapes (see rotary_body).
        cfg["dynamic"] = True
    elif variant == "scaled":
        # attention_scaling s multiplies cos and sin, hence the rotated
        # values, and the inverse (also scaled) gives s^2 * q.
        scale = 1.25
        for key in ("cos", "sin", "q_rot", "k_rot"):
            c[key] = map_nested(lambda v: v * scale, c[key])
        cfg["scale"] = scale
        cfg["inverse_gain"] = scale * scale
    return c, cfg


def map_rows(fn, x):
    """Applies fn to every innermost list of x."""
    if isinstance(x[0], list):
        return [map_rows(fn, v) for v in x]
    return fn(x)


def map_rows_with(fn, x, y):
    if isinstance(x[0], list):
        return [map_rows_with(fn, a, b) for a, b in zip(x, y)]
    return fn(x, y)


def check_rotary(report, values, key, label, case, q, inverse_gain=1.0):
    if key + "/cos" in values:
        check_abs(report, f"{label}: cos", values[key + "/cos"], case["cos"], ROTARY_TOLERANCE)
        check_abs(report, f"{label}: sin", values[key + "/sin"], case["sin"], ROTARY_TOLERANCE)
    check_abs(report, f"{label}: q_rot", values[key + "/q_rot"], case["q_rot"], ROTARY_TOLERANCE)
    if case.get("k_rot") is not None:
        check_abs(report, f"{label}: k_rot", values[key + "/k_rot"], case["k_rot"], ROTARY_TOLERANCE)
    expected = map_nested(lambda v: v * inverse_gain, q)
    check_abs(report, f"{label}: inverse restores q", values[key + "/q_inverse"], expected,
              ROTARY_TOLERANCE)


def attention_reference(q, k, v, causal):
    """float64 softmax(q k^T / sqrt(D)) v of nested lists: q [B][Hq][S][D]
    against k and v [B][Hkv][T][D] (query head h reads KV head h / (Hq /
    Hkv)); causal masking bottom-right aligned."""
    out = []
    for qb, kb, vb in zip(q, k, v):
        group = len(qb) // len(kb)
        heads = []
        for h, qh in enumerate(qb):
            kh, vh = kb[h // group], vb[h // group]
            scale = 1.0 / math.sqrt(len(qh[0]))
            rows = []
            for s, qrow in enumerate(qh):
                visible = s + len(kh) - len(qh) + 1 if causal else len(kh)
                scores = [sum(x * y for x, y in zip(qrow, kh[t])) * scale
                          for t in range(visible)]
                top = max(scores)
                weights = [math.exp(x - top) for x in scores]
                total = sum(weights)
                rows.append([sum(w * vh[t][d] for t, w in enumerate(weights)) / total
                             for d in range(len(vh[0]))])
            heads.append(rows)
        out.append(heads)
    return out


def attention_body(b, key, c, alloc):
    """mrope.attention with the case's rotary as its prologue: causal prefill
    of q against k (both rotated by the op, values k), and the last token's
    query (rotated by the op) against the golden k_rot as a cache whose keys
    were rotated when written."""
    dim = c["head_dim"]
    body, pos, pos_t = b.const(c["position_ids"], "i64")
    text, qv, q_t = b.const(c["q"], "f32")
    body += text
    text, kv, k_t = b.const(c["k"], "f32")
    body += text
    text, cache, _ = b.const(c["k_rot"], "f32")
    body += text
    inv_t = ttype([dim // 2], "f32")
    f = b.fresh("f")
    body += f"  {f} = mrope.inv_freq theta = {fnum(c['rope_theta'])} : {inv_t}\n"
    rotary = f"rotary <alloc = {alloc}, rotary_dim = {dim}>"
    prefill = b.fresh("prefill")
    body += (f"  {prefill} = mrope.attention {qv}, {kv}, {kv} q_positions({pos} : {pos_t}) "
             f"k_positions({pos} : {pos_t}) freqs({f} : {inv_t}) layout bhsd {rotary} causal "
             f": {q_t}, {k_t}, {k_t} -> {q_t}\n")
    body += b.output(key + "/prefill", prefill, "f32", shape_of(c["q"]))
    batch, heads, tokens, _ = shape_of(c["q"])
    last_q, last_pos, decode = b.fresh("lastq"), b.fresh("lastpos"), b.fresh("decode")
    last_q_t = ttype([batch, heads, 1, dim], "f32")
    last_pos_t = ttype([3, batch, 1], "i64")
    body += (f"  {last_q} = tensor.extract_slice {qv}[0, 0, {tokens - 1}, 0] "
             f"[{batch}, {heads}, 1, {dim}] [1, 1, 1, 1] : {q_t} to {last_q_t}\n"
             f"  {last_pos} = tensor.extract_slice {pos}[0, 0, {tokens - 1}] "
             f"[3, {batch}, 1] [1, 1, 1] : {pos_t} to {last_pos_t}\n"
             f"  {decode} = mrope.attention {last_q}, {cache}, {kv} q_positions({last_pos} : "
             f"{last_pos_t}) freqs({f} : {inv_t}) layout bhsd {rotary} causal "
             f": {last_q_t}, {k_t}, {k_t} -> {last_q_t}\n")
    body += b.output(key + "/decode", decode, "f32", [batch, heads, 1, dim])
    return body


def attention_file(data, args):
    """--variant attention: each rotary case's q and k through mrope.attention
    with the case's rotary fused in (prefill, and decode against the golden
    k_rot as the cache), against a float64 attention of the golden q_rot and
    k_rot (values: k)."""
    b = Builder()
    plan = []
    for n, c in enumerate(data["cases"]):
        if c.get("k") is None or c.get("k_rot") is None:
            raise BadInput(f"cases[{n}]", "--variant attention needs k and k_rot")
        per_head = "mrope_section_heads" in c
        section = c["mrope_section_heads"] if per_head else c.get("mrope_section")
        if section is None:
            raise BadInput(f"cases[{n}]", "needs mrope_section (or mrope_section_heads for MHRoPE)")
        kind = ("head_partitioned" if per_head else
                "interleaved" if "interleaved" in c["allocation"] else "contiguous")
        key = f"case{n}"
        b.add(attention_body(b, key, c, f"<{kind}, section = {section}>"))
        plan.append((key, f"{c['allocation']} D={c['head_dim']} section={section} [attention]",
                     c))
    values = run(b, args)
    report = Report()
    for key, label, c in plan:
        want = attention_reference(c["q_rot"], c["k_rot"], c["k"], causal=True)
        check_abs(report, f"{label}: causal prefill", values[key + "/prefill"], want,
                  ATTENTION_TOLERANCE)
        last = [[h[-1:] for h in qb] for qb in c["q_rot"]]
        want = attention_reference(last, c["k_rot"], c["k"], causal=True)
        check_abs(report, f"{label}: decode against the cache", values[key + "/decode"], want,
                  ATTENTION_TOLERANCE)
    return report


def rotary_file(data, args):
    if args.variant == "attention":
        return attention_file(data, args)
    b = Builder()
    plan = []
    for n, c in enumerate(data["cases"]):
        per_head = "mrope_section_heads" in c
        if not per_head and "mrope_section" not in c:
            raise BadInput(f"cases[{n}]", "needs mrope_section (or mrope_section_heads for MHRoPE)")
        section = c["mrope_section_heads"] if per_head else c["mrope_section"]
        kind = ("head_partitioned" if per_head else
                "interleaved" if "interleaved" in c["allocation"] else "contiguous")
        alloc = f"<{kind}, section = {section}>"
        key = f"case{n}"
        label = (f"{c['allocation']} D={c['head_dim']} theta={c['rope_theta']:g} "
                 f"section={section}")
        if args.variant:
            c, cfg = transform_case(c, args.variant)
            label += f" [{args.variant}]"
        else:
            cfg = {"layout": "bhsd", "pairs": "neox", "scale": 1.0, "inverse_gain": 1.0}
        b.add(rotary_body(b, key, c["position_ids"], "i64", c["rope_theta"], alloc,
                          c["head_dim"], c["q"], c["k"], shape_of(c["cos"]), args.dtype,
                          cfg["layout"], cfg["pairs"], cfg["scale"],
                          cfg.get("dynamic", False)))
        plan.append((key, label, c, cfg))
    values = run(b, args)
    if args.emit:
        out = copy.deepcopy(data)
        for (key, label, c, cfg), entry in zip(plan, out["cases"]):
            # Per-axis tables are not something the compiled path produces.
            entry.pop("cos_per_axis", None)
            entry.pop("sin_per_axis", None)
            for q in ("inv_freq", "cos", "sin", "q_rot", "k_rot"):
                entry[q] = values[f"{key}/{q}"]
        return out
    if args.dtype != "f32":
        return check_low_precision(values, [p[:3] for p in plan], args.dtype)
    report = Report()
    for key, label, c, cfg in plan:
        got = values[key + "/inv_freq"]
        worst = max(ulp_distance(a, w) for a, w in zip(got, c["inv_freq"]))
        report.line("PASS" if worst <= 1 else "FAIL", f"{label}: inv_freq", f"max {worst} ulp")
        check_rotary(report, values, key, label, c, c["q"], cfg["inverse_gain"])
    return report


def check_low_precision(values, plan, dtype):
    """bf16/f16 activations: the compiled rotation must equal Hugging Face's
    dtype arithmetic (emulated here from the reference cos/sin), allowing one
    ulp of the activation type where our f32 cos/sin round differently, and
    stays within the rounding bound of the f32 reference."""
    report = Report()
    unit = {"bf16": 2.0 ** -8, "f16": 2.0 ** -11}[dtype]
    for key, label, c in plan:
        for name, x, rot in (("q_rot", c["q"], c["q_rot"]), ("k_rot", c["k"], c["k_rot"])):
            xr = map_nested(lambda v: round_to(v, dtype), x)
            want = hf_rotation(xr, c["cos"], c["sin"], dtype)
            got = values[f"{key}/{name}"]
            ulps = max(abs(a - w) / max(round_to(abs(w), dtype) * unit * 2, unit * unit)
                       for a, w in zip(flatten(got), flatten(want)))
            vs_f32 = max_abs(got, rot)
            # Each output element is |x1 c| + |x2 s| <= sqrt(2) max|x| after
            # at most 4 roundings of relative size `unit` (inputs, cos/sin,
            # products, sum): |error| <= 6 * unit * max|x|.
            bound = 6 * unit * max(abs(v) for v in flatten(x))
            ok = ulps <= 1.0 and vs_f32 <= bound
            report.line("PASS" if ok else "FAIL", f"{label}: {name} ({dtype})",
                        f"{ulps:.2g} ulp from HF {dtype} arithmetic, "
                        f"{vs_f32:.3g} from f32 reference (bound {bound:.3g})")
    return report


# Paper variants checked in the runtime form too (designs.py; the paper's
# mrope and GRAPE positions apply Qwen2-VL rules to per-frame input, which the
# Qwen2-VL design does not split).
RUNTIME_PAPER_DESIGNS = designs.RUNTIME_PAPER_DESIGNS


def rope_index_body(b, key, design, elem, input_ids, mask, grids):
    """IR for mrope.rope_index on processor-style inputs, with its outputs."""
    batch, length = len(input_ids), len(input_ids[0])
    text, ids, ids_t = b.const(input_ids, "i64")
    body, operands = text, ""
    if mask is not None:
        text, m, m_t = b.const(mask, "i64")
        body += text
        operands += f" mask({m} : {m_t})"
    for field, word in (("image_grid_thw", "images"), ("video_grid_thw", "videos")):
        if grids.get(field):
            text, g, g_t = b.const(grids[field], "i64")
            body += text
            operands += f" {word}({g} : {g_t})"
    p, d, n, st = (b.fresh(x) for x in ("rp", "rd", "rn", "rs"))
    res = (f"{ttype([3, batch, length], elem)}, {ttype([batch, 1], elem)}, "
           f"{ttype([batch], elem)}, tensor<4xi64>")
    body += f"  {p}, {d}, {n}, {st} = mrope.rope_index {ids}{operands} design {design} : {ids_t} -> {res}\n"
    body += b.output(key + "/runtime_positions", p, elem, [3, batch, length])
    body += b.output(key + "/runtime_deltas", d, elem, [batch, 1])
    body += b.output(key + "/runtime_status", st, "i64", [4])
    return body


def q_formula(shape, scale, fn):
    b, h, n, d = shape
    f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
    return [[[[f32(fn(scale * (bi + 1) * (hi + 1) * (ni + 1) * (di + 1)))
               for di in range(d)] for ni in range(n)] for hi in range(h)]
            for bi in range(b)]


def paper_variants(data, args):
    b = Builder()
    plan = []
    mixed = data["mixed_case"]
    for n, v in enumerate(data["variants"]):
        kw, name = v["kwargs"], v["variant"]
        needed = ["position_scale"] if name == "mmrope" else []
        if designs.needs_section(name, kw):
            needed.append("mrope_section")
        for key in needed:
            if key not in kw:
                raise BadInput(f"variants[{n}].kwargs.{key}", f"is missing (variant {name} needs it)")
        elem = "f32" if name in designs.FLOAT_POSITION_VARIANTS else "i64"
        length = len(mixed["input_ids"])
        rows = segments_of_batch([mixed["input_ids"]], None, mixed["image_grid_thw"],
                                 mixed["video_grid_thw"], True)
        types = (f"{ttype([3, 1, length], elem)}, {ttype([1, 1], elem)}, {ttype([1], elem)}")
        p, d, nx = b.fresh("p"), b.fresh("d"), b.fresh("n")
        body = (f"  {p}, {d}, {nx} = mrope.position_ids {designs.paper_design(name, kw)} "
                f"{rows} : {types}\n")
        alloc = designs.paper_allocation(name, kw, kw.get("mrope_section"))
        qshape = shape_of(v["q_rot"])
        kv = kw.get("num_key_value_heads", qshape[1])
        q = q_formula(qshape, 0.1, math.sin)
        k = q_formula([qshape[0], kv, qshape[2], qshape[3]], 0.05, math.cos)
        key = f"v{n}"
        dim = kw["dim"]
        text, qv, q_t = b.const(q, "f32")
        body += text
        text, kvv, k_t = b.const(k, "f32")
        body += text
        inv_t = ttype([dim // 2], "f32")
        f, qr, kr, qi, ki, c, s = (b.fresh(x) for x in ("f", "qr", "kr", "qi", "ki", "cos", "sin"))
        pos_t = ttype([3, 1, length], elem)
        rotary = f"rotary <alloc = {alloc}, rotary_dim = {dim}>"
        body += f"  {f} = mrope.inv_freq theta = {fnum(kw['base'])} : {inv_t}\n"
        body += (f"  {qr}, {kr} = mrope.apply {qv}, {kvv} positions({p} : {pos_t}) "
                 f"freqs({f} : {inv_t}) layout bhsd {rotary} : {q_t}, {k_t}\n")
        body += (f"  {qi}, {ki} = mrope.apply {qr}, {kr} positions({p} : {pos_t}) "
                 f"freqs({f} : {inv_t}) layout bhsd {rotary} inverse : {q_t}, {k_t}\n")
        cos_t = ttype(shape_of(v["cos"]), "f32")
        body += f"  {c}, {s} = mrope.cos_sin {p}, {f} {rotary} : {pos_t}, {inv_t} -> {cos_t}, {cos_t}\n"
        body += b.output(key + "/positions", p, elem, [3, 1, length])
        body += b.output(key + "/deltas", d, elem, [1, 1])
        body += b.output(key + "/cos", c, "f32", shape_of(v["cos"]))
        body += b.output(key + "/sin", s, "f32", shape_of(v["cos"]))
        body += b.output(key + "/q_rot", qr, "f32", qshape)
        body += b.output(key + "/q_inverse", qi, "f32", qshape)
        if name in RUNTIME_PAPER_DESIGNS:
            body += rope_index_body(b, key, designs.paper_design(name, kw), elem,
                                    [mixed["input_ids"]], None, mixed)
        b.add(body)
        plan.append((key, f"{name} ({v['label']})", v, q))
    pb = data.get("padded_batch")
    padded = []
    if pb:
        for n, r in enumerate(pb["results"]):
            name, kw = r["variant"], r["kwargs"]
            if name == "mmrope" and "position_scale" not in kw:
                raise BadInput(f"padded_batch.results[{n}].kwargs.position_scale",
                               "is missing (variant mmrope needs it)")
            elem = "f32" if name in designs.FLOAT_POSITION_VARIANTS else "i64"
            batch, length = len(pb["input_ids"]), len(pb["input_ids"][0])
            rows = segments_of_batch(pb["input_ids"], pb["attention_mask"],
                                     pb["image_grid_thw"], pb["video_grid_thw"], True,
                                     "padded_batch")
            types = (f"{ttype([3, batch, length], elem)}, {ttype([batch, 1], elem)}, "
                     f"{ttype([batch], elem)}")
            p, d, nx = b.fresh("p"), b.fresh("d"), b.fresh("n")
            body = (f"  {p}, {d}, {nx} = mrope.position_ids {designs.paper_design(name, kw)} "
                    f"{rows} : {types}\n")
            key = f"pb{n}"
            body += b.output(key + "/positions", p, elem, [3, batch, length])
            body += b.output(key + "/deltas", d, elem, [batch, 1])
            if name in RUNTIME_PAPER_DESIGNS:
                body += rope_index_body(b, key, designs.paper_design(name, kw), elem,
                                        pb["input_ids"], pb["attention_mask"], pb)
            b.add(body)
            padded.append((key, f"padded batch {name}", r))
    values = run(b, args)
    if args.emit:
        out = copy.deepcopy(data)
        for (key, label, v, q), entry in zip(plan, out["variants"]):
            entry["position_ids"] = values[key + "/positions"]
            entry["rope_deltas"] = values[key + "/deltas"]
            for name in ("cos", "sin", "q_rot"):
                entry[name] = values[f"{key}/{name}"]
        for (key, label, r), entry in zip(padded, out.get("padded_batch", {}).get("results", [])):
            entry["position_ids"] = values[key + "/positions"]
            entry["rope_deltas"] = values[key + "/deltas"]
        return out
    report = Report()
    for key, label, v, q in plan:
        check_positions(report, f"{label}: positions",
                        values[key + "/positions"], v["position_ids"])
        check_positions(report, f"{label}: rope_deltas", values[key + "/deltas"],
                        [[float(x) if isinstance(x, float) else x for x in row]
                         for row in v["rope_deltas"]])
        check_rotary(report, values, key, label, v, q)
        if key + "/runtime_positions" in values:
            check_runtime(report, values, key, label, v)
    for key, label, r in padded:
        check_positions(report, f"{label}: positions", values[key + "/positions"],
                        r["position_ids"])
        check_positions(report, f"{label}: rope_deltas", values[key + "/deltas"],
                        r["rope_deltas"])
        if key + "/runtime_positions" in values:
            check_runtime(report, values, key, label, r)
    return report


def check_runtime(report, values, key, label, ref):
    """The runtime form (mrope.rope_index from the token ids) of a variant."""
    status = values[key + "/runtime_status"]
    if status[0] != 0:
        report.line("FAIL", f"{label}: runtime form", describe_status(status))
        return
    check_positions(report, f"{label}: runtime positions",
                    values[key + "/runtime_positions"], ref["position_ids"])
    check_positions(report, f"{label}: runtime rope_deltas",
                    values[key + "/runtime_deltas"], ref["rope_deltas"])


ALLOCATION_KINDS = {
    "hf_qwen2vl_contiguous": "contiguous", "paper:mrope": "contiguous",
    "paper:grape": "contiguous", "paper:circlerope": "contiguous",
    "paper:omnirope": "contiguous", "hf_qwen3vl_interleaved": "interleaved",
    "paper:mrope-interleave": "interleaved", "paper:ilrope": "interleaved",
    "paper:videorope": "videorope", "paper:hope": "hope",
    "paper:mmrope": "mmrope", "paper:grape(interleaved)": "grape_interleaved",
}


def allocation_maps(data, args):
    funcs = []
    for n, m in enumerate(data["maps"]):
        d = m["head_dim"]
        mhrope = m["alloc"].startswith("paper:mhrope")
        if not mhrope and m["alloc"] not in ALLOCATION_KINDS:
            raise BadInput(f"maps[{n}].alloc", f"{m['alloc']!r} is not one of paper:mhrope*, "
                           + ", ".join(sorted(ALLOCATION_KINDS)))
        for key in (("num_key_value_heads", "mrope_section_heads", "kv_heads") if mhrope
                    else ("mrope_section", "pairs")):
            if key not in m:
                raise BadInput(f"maps[{n}].{key}", "is missing")
        if mhrope:
            kv = m["num_key_value_heads"]
            alloc = f"<head_partitioned, section = {m['mrope_section_heads']}>"
            table = f"tensor<1x{kv}x4x{d}xf32>"
        else:
            alloc = f"<{ALLOCATION_KINDS[m['alloc']]}, section = {m['mrope_section']}>"
            table = f"tensor<1x4x{d}xf32>"
        funcs.append(f"func.func @m{n}(%p: tensor<3x1x4xi64>, %f: tensor<{d // 2}xf32>) {{\n"
                     f"  %c, %s = mrope.cos_sin %p, %f rotary <alloc = {alloc}, rotary_dim = {d}>"
                     f" : tensor<3x1x4xi64>, tensor<{d // 2}xf32> -> {table}, {table}\n  return\n}}\n")
    result = subprocess.run([args.mrope_opt, "-", "--mrope-print-allocation", "-o", "/dev/null"],
                            input="\n".join(funcs), capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(excerpt(result.stderr))
    remarks = re.findall(r"remark: (pair axes|KV head axes): (\S+)", result.stderr)
    if args.emit:
        out = copy.deepcopy(data)
        for entry, (kind, axes) in zip(out["maps"], remarks):
            if kind == "KV head axes":
                entry["kv_heads"] = [a * (entry["head_dim"] // 2) for a in axes]
            else:
                entry["pairs"] = axes
        return out
    report = Report()
    for m, (kind, axes) in zip(data["maps"], remarks):
        want = ("".join(h[0] for h in m["kv_heads"]) if "kv_heads" in m else m["pairs"])
        label = f"{m['alloc']} D={m['head_dim']} section={m.get('mrope_section', m.get('mrope_section_heads'))}"
        report.line("PASS" if axes == want else "FAIL", label, axes)
    return report


def scaling_attr(params, top, snapshot):
    kind = params["rope_type"]
    if kind == "default":
        return None
    fields = [f"kind = {kind}"]
    if kind == "yarn" and snapshot == "v449":
        fields.append("convention = hf449")
    if "factor" in params:
        fields.append(f"factor = {fnum(params['factor'])}")
    if kind in ("dynamic", "yarn", "longrope"):
        fields.append(f"max_position_embeddings = {top['max_position_embeddings']}")
    original = params.get("original_max_position_embeddings",
                          top.get("original_max_position_embeddings"))
    if original is not None and kind in ("yarn", "longrope", "llama3"):
        fields.append(f"original_max_position_embeddings = {original}")
    for key in ("beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                "attention_factor", "low_freq_factor", "high_freq_factor"):
        if key in params:
            fields.append(f"{key} = {fnum(params[key])}")
    if params.get("truncate") is False:
        fields.append("truncate = false")
    for key in ("short_factor", "long_factor"):
        if key in params:
            fields.append(f"{key} = [{', '.join(fnum(v) for v in params[key])}]")
    return "<" + ", ".join(fields) + ">"


def inv_freq_scaling(data, args):
    b = Builder()
    plan = []
    for n, case in enumerate(data["cases"]):
        params, top = case["rope_parameters"], case["config_top_level"]
        dim = int(top["head_dim"] * params.get("partial_rotary_factor", 1.0))
        seq = case["seq_len_arg"]
        for snapshot in case["results"]:
            attr = scaling_attr(params, top, snapshot)
            body = ""
            operand = ""
            if seq is not None:
                length = b.fresh("len")
                body += f"  {length} = arith.constant {seq} : i64\n"
                # The golden calls the init function with an integer.
                operand = f" seq_len({length} : i64)" + (
                    " at_init" if params.get("rope_type") == "dynamic" else "")
            f, s, st = b.fresh("f"), b.fresh("s"), b.fresh("st")
            body += (f"  {f} = mrope.inv_freq theta = {fnum(params['rope_theta'])}"
                     f"{' scaling ' + attr if attr else ''}{operand} : {ttype([dim // 2], 'f32')}\n")
            body += (f"  {s} = mrope.attention_scaling {attr} : f64\n" if attr
                     else f"  {s} = arith.constant 1.0 : f64\n")
            body += f"  {st} = tensor.from_elements {s} : tensor<1xf64>\n"
            key = f"c{n}/{snapshot}"
            body += b.output(key + "/inv_freq", f, "f32", [dim // 2])
            body += b.output(key + "/scaling", st, "f64", [1])
            b.add(body)
            label = f"{case['name']} theta={params['rope_theta']:g} D={dim}"
            if seq is not None:
                label += f" seq_len={seq}"
            plan.append((key, f"{label} [{snapshot}]", case, snapshot))
    module = data.get("dynamic_via_module")
    if module:
        # The runtime update: seq_len = max(position_ids) + 1 over all axes,
        # inv_freq recomputed in float32, then cos/sin of the interleaved map.
        cfg = module["config"]
        dim = cfg["head_dim"]
        text, pos, pos_t = b.const(module["position_ids"], "i64")
        body = text
        length, f, c, sn = b.fresh("len"), b.fresh("f"), b.fresh("cos"), b.fresh("sin")
        inv_t = ttype([dim // 2], "f32")
        body += f"  {length} = mrope.sequence_length {pos} : {pos_t}\n"
        body += (f"  {f} = mrope.inv_freq theta = {fnum(cfg['rope_theta'])} scaling "
                 f"<kind = dynamic, factor = {fnum(cfg['factor'])}, max_position_embeddings = "
                 f"{cfg['max_position_embeddings']}> seq_len({length} : i64) : {inv_t}\n")
        cos_t = ttype(shape_of(module["cos"]), "f32")
        body += (f"  {c}, {sn} = mrope.cos_sin {pos}, {f} rotary <alloc = <interleaved, "
                 f"section = {cfg['mrope_section']}>, rotary_dim = {dim}> : {pos_t}, {inv_t} "
                 f"-> {cos_t}, {cos_t}\n")
        body += b.output("module/inv_freq", f, "f32", [dim // 2])
        body += b.output("module/cos", c, "f32", shape_of(module["cos"]))
        body += b.output("module/sin", sn, "f32", shape_of(module["cos"]))
        b.add(body)
    values = run(b, args)
    if args.emit:
        out = copy.deepcopy(data)
        if module:
            out["dynamic_via_module"]["inv_freq_after_call"] = values["module/inv_freq"]
            out["dynamic_via_module"]["cos"] = values["module/cos"]
            out["dynamic_via_module"]["sin"] = values["module/sin"]
        for n, entry in enumerate(out["cases"]):
            for snapshot, result in entry["results"].items():
                result["inv_freq"] = values[f"c{n}/{snapshot}/inv_freq"]
                result["attention_scaling"] = values[f"c{n}/{snapshot}/scaling"][0]
        return out
    report = Report()
    for key, label, case, snapshot in plan:
        want = case["results"][snapshot]
        got = values[key + "/inv_freq"]
        worst = max(ulp_distance(a, w) for a, w in zip(got, want["inv_freq"]))
        scale = values[key + "/scaling"][0]
        scale_ok = abs(scale - want["attention_scaling"]) <= 1e-12 * abs(want["attention_scaling"])
        if not scale_ok:
            report.line("FAIL", label, f"attention_scaling {scale!r}, reference {want['attention_scaling']!r}")
        elif worst <= 1:
            report.line("PASS", label, f"inv_freq max {worst} ulp, attention_scaling exact")
        else:
            report.line("FAIL", label, f"inv_freq max {worst} ulp")
    if module:
        label = "dynamic NTK at run time (seq_len = max position + 1)"
        got = values["module/inv_freq"]
        worst = max(ulp_distance(a, w) for a, w in zip(got, module["inv_freq_after_call"]))
        report.line("PASS" if worst <= 1 else "FAIL", f"{label}: inv_freq", f"max {worst} ulp")
        check_abs(report, f"{label}: cos", values["module/cos"], module["cos"], ROTARY_TOLERANCE)
        check_abs(report, f"{label}: sin", values["module/sin"], module["sin"], ROTARY_TOLERANCE)
    return report


# ----------------------------------------------------------------------------
# Long-context numerics (the project's own file, test/Numerics/*.json)
# ----------------------------------------------------------------------------

def bf16_ulp(x):
    """The spacing of bfloat16 numbers (8 significant bits) at |x|."""
    if x == 0:
        return 2.0 ** -133
    return 2.0 ** (math.frexp(abs(x))[1] - 8)


def contiguous_axis(section):
    """Pair -> position row of a contiguous MRoPE section (Qwen2-VL)."""
    axes = []
    for axis, count in enumerate(section):
        axes += [axis] * count
    return axes


def long_context(data, args):
    """cos/sin at positions up to 2^20 against a float64 evaluation.

    Each config is compiled twice, with `angles = reference` (the f32 angle
    of Hugging Face) and `angles = exact` (the exactly reduced angle), through
    mrope.cos_sin (the table form) and mrope.apply of unit vectors, whose
    rotation y1 = 1*cos - 0*sin, y2 = 0*cos + 1*sin is exact and so exposes
    the vector form's cos/sin. References, in float64 from the f32 inv_freq
    the compiled code used:
      exact:     cos(pos * inv_freq), the true angle;
      reference: cos(f32(pos * inv_freq)), the reference formula's angle.
    Both must be within 1 bfloat16 ulp (and finite); the reference formula's
    distance from the true angle is printed for information."""
    spec = data["long_context"]
    rng_spec = spec["random_positions"]
    rng = random.Random(rng_spec["seed"])
    positions = list(spec["positions"]) + [rng.randrange(rng_spec["max"] + 1)
                                           for _ in range(rng_spec["count"])]
    rows = [positions, [p // 2 + 7 for p in positions], [(3 * p) // 4 + 1 for p in positions]]
    tokens = len(positions)
    b = Builder()
    plan = []
    for n, config in enumerate(spec["configs"]):
        params, top = config["rope_parameters"], config["config_top_level"]
        dim = top["head_dim"]
        section = config["mrope_section"]
        if sum(section) != dim // 2:
            raise BadInput(f"long_context.configs[{n}].mrope_section",
                           f"{section} does not sum to head_dim / 2 = {dim // 2}")
        attr = scaling_attr(params, top, "v457")
        scale = float(config.get("attention_scaling", 1.0))
        for precision in ("reference", "exact"):
            key = f"c{n}/{precision}"
            text, pos, pos_t = b.const([[r] for r in rows], "i64", [3, 1, tokens])
            body = text
            operand = ""
            if config.get("seq_len") is not None:
                length = b.fresh("len")
                body += f"  {length} = arith.constant {config['seq_len']} : i64\n"
                operand = f" seq_len({length} : i64)"
            f, sc, st = b.fresh("f"), b.fresh("s"), b.fresh("st")
            inv_t = ttype([dim // 2], "f32")
            body += (f"  {f} = mrope.inv_freq theta = {fnum(params['rope_theta'])}"
                     f"{' scaling ' + attr if attr else ''}{operand} : {inv_t}\n")
            body += (f"  {sc} = mrope.attention_scaling {attr} : f64\n" if attr
                     else f"  {sc} = arith.constant 1.0 : f64\n")
            body += f"  {st} = tensor.from_elements {sc} : tensor<1xf64>\n"
            rotary = (f"rotary <alloc = <contiguous, section = {section}>, rotary_dim = {dim}"
                      f"{', attention_scaling = ' + fnum(scale) if scale != 1.0 else ''}"
                      f", angles = {precision}>")
            c, sn = b.fresh("cos"), b.fresh("sin")
            cos_t = ttype([1, tokens, dim], "f32")
            body += (f"  {c}, {sn} = mrope.cos_sin {pos}, {f} {rotary} : {pos_t}, {inv_t} "
                     f"-> {cos_t}, {cos_t}\n")
            unit = [[[[1.0] * (dim // 2) + [0.0] * (dim // 2)] for _ in range(tokens)]]
            text, qv, q_t = b.const(unit, "f32", [1, 1, tokens, dim])
            body += text
            qr, kr = b.fresh("qr"), b.fresh("kr")
            body += (f"  {qr}, {kr} = mrope.apply {qv}, {qv} positions({pos} : {pos_t}) "
                     f"freqs({f} : {inv_t}) layout bhsd {rotary} : {q_t}, {q_t}\n")
            body += b.output(key + "/inv_freq", f, "f32", [dim // 2])
            body += b.output(key + "/scaling", st, "f64", [1])
            body += b.output(key + "/cos", c, "f32", [1, tokens, dim])
            body += b.output(key + "/sin", sn, "f32", [1, tokens, dim])
            body += b.output(key + "/unit", qr, "f32", [1, 1, tokens, dim])
            b.add(body)
            plan.append((key, config, precision, section, dim, scale))
    values = run(b, args)
    if args.emit:
        out = copy.deepcopy(data)
        out["long_context"]["results"] = {
            f"{config['name']}/{precision}": {k: values[f"{key}/{k}"]
                                               for k in ("inv_freq", "cos", "sin")}
            for key, config, precision, *_ in plan}
        return out
    report = Report()
    for key, config, precision, section, dim, scale in plan:
        label = f"{config['name']} angles={precision} ({tokens} tokens, max position {max(positions)})"
        got_scale = values[key + "/scaling"][0]
        if abs(got_scale - scale) > 1e-12 * scale:
            report.line("FAIL", label, f"attention_scaling is {got_scale!r}, the config says {scale!r}")
            continue
        inv_freq = values[key + "/inv_freq"]
        scale32 = struct.unpack("<f", struct.pack("<f", scale))[0]
        axes = contiguous_axis(section)
        half = dim // 2
        worst = {"cos_sin": 0.0, "apply": 0.0}
        worst_abs, worst_ref_drift, where = 0.0, 0.0, None
        finite = True
        for i in range(tokens):
            for j in range(half):
                exact_angle = rows[axes[j]][i] * inv_freq[j]  # exact in float64
                f32_angle = struct.unpack("<f", struct.pack("<f", exact_angle))[0]
                angle = exact_angle if precision == "exact" else f32_angle
                want_c, want_s = math.cos(angle) * scale32, math.sin(angle) * scale32
                if precision == "reference":
                    worst_ref_drift = max(worst_ref_drift,
                                          abs(math.cos(f32_angle) - math.cos(exact_angle)),
                                          abs(math.sin(f32_angle) - math.sin(exact_angle)))
                table_c, table_s = values[key + "/cos"][0][i][j], values[key + "/sin"][0][i][j]
                unit = values[key + "/unit"][0][0][i]
                for form, (gc, gs) in (("cos_sin", (table_c, table_s)), ("apply", (unit[j], unit[j + half]))):
                    for g, w in ((gc, want_c), (gs, want_s)):
                        if not math.isfinite(g):
                            finite = False
                            continue
                        ulps = abs(g - w) / bf16_ulp(w)
                        if ulps > worst[form]:
                            worst[form] = ulps
                            if form == "cos_sin":
                                where = (rows[axes[j]][i], j)
                        worst_abs = max(worst_abs, abs(g - w))
        if not finite:
            report.line("FAIL", label, "NaN or Inf in cos/sin")
            continue
        detail = (f"cos_sin max {worst['cos_sin']:.2g} bf16 ulp, apply max {worst['apply']:.2g} bf16 ulp, "
                  f"max abs {worst_abs:.2g}")
        if where:
            detail += f" (worst at position {where[0]}, pair {where[1]})"
        if precision == "reference":
            detail += f"; the f32 angle itself is off the true one by up to {worst_ref_drift:.2g} in cos/sin"
        ok = max(worst.values()) <= 1.0
        report.line("PASS" if ok else "FAIL", label, detail)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--emit", action="store_true",
                        help="print the computed outputs as JSON in the same schema "
                             "(with --dtype: the rotated q/k in that type, exactly)")
    parser.add_argument("--variant", choices=["bshd", "thd", "gptj", "partial", "scaled", "dynamic",
                                              "attention"],
                        help="rotary_* files: check another activation layout, GPT-J "
                             "pairs, partial rotary or an attention scaling, through "
                             "identities of the rotation; or (attention) mrope.attention "
                             "with the case's rotary fused in, against a float64 "
                             "attention of the golden q_rot and k_rot")
    parser.add_argument("--dtype", choices=["f32", "bf16", "f16"], default="f32",
                        help="activation type for rotary_* files")
    parser.add_argument("--portable", action="store_true",
                        help="lower with mrope-opt to linalg only, then upstream mlir-opt")
    parser.add_argument("--threads", action="store_true",
                        help="compile with --mrope-cpu-pipeline=threads=true (loop over "
                             "tokens on the MLIR async runtime's thread pool)")
    parser.add_argument("--gpu-kernel-on-host", action="store_true",
                        help="lower mrope.apply with the GPU lowering, running its "
                             "kernel body in a host loop over the thread ids "
                             "(convert-mrope-to-gpu=host-loop=true), then the CPU pipeline")
    parser.add_argument("--gpu", action="store_true",
                        help="run mrope.apply on the GPU (mrope-gpu-pipeline with "
                             "host-buffers=true, libmrope_cuda_runtime.so); needs an "
                             "NVIDIA GPU and driver")
    parser.add_argument("--gpu-chip", default="sm_90a",
                        help="with --gpu: the target (sm_80, sm_90a, ...)")
    parser.add_argument("--gpu-features", default="+ptx80",
                        help="with --gpu: PTX features for the chip")
    parser.add_argument("--gpu-format", default="fatbin", choices=["fatbin", "bin", "isa"],
                        help="with --gpu: kernel binary (isa: PTX, compiled by the driver "
                             "at load, for drivers older than the toolkit)")
    parser.add_argument("--cuda-runtime",
                        default=os.path.join(HERE, "..", "lib", "libmrope_cuda_runtime.so"),
                        help="with --gpu: the mgpu* runtime library")
    parser.add_argument("--aot-build", metavar="DIR",
                        help="compile this input into a stand-alone executable in DIR "
                             "(with --gpu linked to libmrope_cuda_runtime.so, which must "
                             "sit next to it; no LLVM needed to run it) and stop")
    parser.add_argument("--prebuilt", metavar="DIR",
                        help="run the executable --aot-build made for the same input "
                             "and arguments instead of compiling (e.g. on a GPU machine "
                             "without LLVM)")
    parser.add_argument("--target", choices=sorted(TARGETS),
                        help="compile for another CPU (the CPU pipeline without "
                             "host-specific instructions, cross-linked by clang) and "
                             "run there under qemu-user (needs the target's gcc "
                             "cross toolchain and libc, e.g. gcc-aarch64-linux-gnu)")
    parser.add_argument("--head-slices", type=int, default=0,
                        help="with --gpu or --gpu-kernel-on-host: threads splitting "
                             "the heads (0: the lowering's automatic choice)")
    parser.add_argument("--mrope-opt", default=os.path.join(HERE, "mrope-opt"))
    parser.add_argument("--mlir-opt", default=os.path.join(LLVM, "bin", "mlir-opt"))
    parser.add_argument("--mlir-runner", default=os.path.join(LLVM, "bin", "mlir-runner"))
    parser.add_argument("--lib-dir", default=os.path.join(LLVM, "lib"))
    args = parser.parse_args()
    if (args.aot_build or args.prebuilt) and (args.threads or args.portable):
        parser.error("--aot-build and --prebuilt work with the default CPU pipeline, "
                     "--gpu-kernel-on-host and --gpu")
    if args.emit and args.variant:
        parser.error("--emit writes the input's schema and shapes; it cannot be "
                     "combined with --variant (which changes the layout)")
    if args.variant and args.dtype != "f32":
        parser.error(f"--dtype {args.dtype} cannot be combined with --variant: the "
                     "low-precision check emulates Hugging Face's bhsd NeoX arithmetic")
    if sum(map(bool, (args.threads, args.portable, args.gpu_kernel_on_host,
                      args.gpu, args.target))) > 1:
        parser.error("choose one of --threads, --portable, --gpu-kernel-on-host, "
                     "--gpu and --target")
    try:
        data = json.load(open(args.file))
    except (OSError, ValueError, RecursionError) as e:
        sys.exit(f"mrope-conform: cannot read {args.file}: {e}")
    result = conform(data, args, args.file)
    if args.emit:
        json.dump(result, sys.stdout)
        print()
        return 0
    return result.summary()


def conform(data, args, name):
    """Checks (or with args.emit computes) one parsed file: a Report, or the
    emitted JSON. Bad input exits with a message naming the file and the
    problem (SystemExit); any other exception is a bug (the fuzz target
    tools/mrope-fuzz/mrope-fuzz-json.py looks for them)."""
    if not isinstance(data, dict):
        sys.exit(f"mrope-conform: {name}: expected a JSON object")
    # (the key that marks the kind, its schema, its handler)
    file_kinds = [("long_context", "long_context", long_context),
                  ("maps", "allocation_maps", allocation_maps),
                  ("variants", "paper_variants", paper_variants)]
    case_kinds = [("outputs", "hf_position_ids", hf_position_ids),
                  ("rope_parameters", "inv_freq_scaling", inv_freq_scaling),
                  ("q_rot", "rotary", rotary_file)]
    found = [(kind, handler) for key, kind, handler in file_kinds if key in data]
    if not found and "cases" in data:
        cases = data["cases"]
        if not isinstance(cases, list) or not cases or \
                not all(isinstance(c, dict) for c in cases):
            sys.exit(f"mrope-conform: {name}: cases: must be a non-empty list of objects")
        found = [(kind, handler) for key, kind, handler in case_kinds if key in cases[0]]
        if not found:
            sys.exit(f"mrope-conform: {name}: cases[0]: has none of 'outputs' "
                     "(position IDs), 'rope_parameters' (inv_freq) or 'q_rot' (rotary)")
    if not found:
        sys.exit(f"mrope-conform: {name}: not a golden-vector file "
                 "(expected 'maps', 'variants', 'long_context' or 'cases' in a known schema)")
    kind, handler = found[0]
    try:
        SCHEMAS[kind].check(data, "")
        return handler(data, args)
    except BadInput as e:
        sys.exit(f"mrope-conform: {name}: {e}")


if __name__ == "__main__":
    sys.exit(main())
