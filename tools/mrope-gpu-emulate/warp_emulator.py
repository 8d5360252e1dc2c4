#!/usr/bin/env python3
"""Runs mrope's GPU kernels on the CPU: an interpreter of the outlined
`gpu.func` (generic MLIR form, after gpu-kernel-outlining), one CTA at a time
with all of its threads in lockstep, so that warp-level operations -- mma.sync,
ldmatrix, shuffles -- see every lane's registers as the hardware does.

What it models (PTX ISA, "Warp-level matrix fragments" for mma.m16n8k16 with
.bf16/.f16, mma.m16n8k8 with .tf32, and "ldmatrix"):
  - lane = 4 * groupID + threadID_in_group;
  - mma.sync m16n8k16 row.col: A registers a0..a3 hold (row g, k 2t..2t+1),
    (row g+8, k 2t..), (row g, k 2t+8..), (row g+8, k 2t+8..); B registers
    b0, b1 hold (k 2t..2t+1, col g), (k 2t+8.., col g); C/D hold (row g, col
    2t..2t+1), (row g+8, col 2t..); the first element of a 32-bit register in
    its low half. Products are exact and summed in f64, then rounded to f32
    (tensor cores round differently in the last bits; callers compare with
    tolerances);
  - mma.sync m16n8k8 .tf32 row.col: A registers hold (row g, k t), (g+8, t),
    (g, t+4), (g+8, t+4), B registers (k t, col g), (k t+4, col g), C/D as
    above; a register's low 13 mantissa bits are ignored (tf32);
  - ldmatrix .x4: lanes 8i..8i+7 give the row addresses of matrix i; lane l
    receives row l/4, columns 2(l%4), 2(l%4)+1 of matrix i in register i, or
    with .trans row 2(l%4) and 2(l%4)+1 of column l/4;
  - shuffle xor within the warp; barriers are no-ops (lockstep), but must be
    reached by every thread of the CTA.
bf16 values are kept as their 16 bits, f16 as numpy float16, f32 as float32;
truncf rounds to nearest even. exp2 is exact here (ex2.approx on the GPU).

This checks the kernel's indexing, fragment layouts and control flow on
machines without a GPU, and shared-memory races: every byte of shared
memory remembers which thread last wrote and read it in which barrier
interval, so a missing barrier is reported (SharedTracker) although lockstep
execution would hide it. It does not check NVPTX code generation.
"""

import ctypes
import ctypes.util
import re

from fractions import Fraction

import numpy as np

LANES_PER_WARP = 32

# math.powf, math.atan2, math.sin and math.cos (f32) are the host C
# library's (what the host pipeline calls), so that emulated kernels can be
# compared with host results bit for bit; on a GPU they are libdevice's
# (__nv_powf, ...), which may differ in the last place.
_LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
_LIBM_F32 = {}
for _name, _arity in (("powf", 2), ("atan2f", 2), ("sinf", 1), ("cosf", 1)):
    _LIBM_F32[_name] = getattr(_LIBM, _name)
    _LIBM_F32[_name].restype = ctypes.c_float
    _LIBM_F32[_name].argtypes = (ctypes.c_float,) * _arity


def libm_f32(name, *args):
    """The C library's f32 function `name` elementwise."""
    args = np.broadcast_arrays(*(np.asarray(a, np.float32) for a in args))
    out = np.empty(args[0].shape, np.float32)
    f = _LIBM_F32[name]
    for i in np.ndindex(out.shape):
        out[i] = f(*(float(a[i]) for a in args))
    return out


def powf(x, y):
    return libm_f32("powf", x, y)


# ----------------------------------------------------------------- parsing

class Op:
    __slots__ = ("results", "name", "operands", "props", "regions", "in_types",
                 "out_types", "attrs")

    def __init__(self, results, name, operands, props):
        self.results, self.name, self.operands, self.props = results, name, operands, props
        self.regions, self.in_types, self.out_types, self.attrs = [], [], [], ""


class Block:
    def __init__(self):
        self.args, self.arg_types, self.ops = [], [], []


def split_top(text, sep=","):
    """Splits at `sep` outside <>, (), [] and {}."""
    parts, depth, cur = [], 0, ""
    for i, ch in enumerate(text):
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}" and not (ch == ">" and text[i - 1] == "-"):
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def parse_signature(text):
    """'(T, T) -> T' or '(T) -> (T, T)' -> (inputs, outputs)."""
    text = text.strip()
    depth = 0
    for i, ch in enumerate(text):
        if depth == 0 and text.startswith("->", i):
            ins, outs = text[:i].strip(), text[i + 2:].strip()
            break
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}" and not (ch == ">" and text[i - 1] == "-"):
            depth -= 1
    else:
        raise ValueError("no signature in " + text)
    ins = split_top(ins[1:-1]) if ins.startswith("(") else [ins]
    if outs.startswith("(") and not outs.startswith("(f"):
        outs = split_top(outs[1:-1])
    else:
        outs = [outs] if outs else []
    return ins, outs


OP_LINE = re.compile(r'^(?:(%[\w#]+)(?::(\d+))? = )?"([\w.]+)"\((.*?)\)(.*)$')


def parse_tail(op, tail):
    """Properties `<{...}>`, then ` : signature` (or a region opener)."""
    tail = tail.strip()
    if tail.startswith("<{"):
        depth = 0
        for i, ch in enumerate(tail):
            if ch == "<":
                depth += 1
            elif ch == ">" and tail[i - 1] != "-":  # not the arrow of a type
                depth -= 1
                if depth == 0:
                    op.props = tail[2:i - 1]
                    tail = tail[i + 1:].strip()
                    break
    return tail


def parse_closing(op, tail):
    """The line that closes an op's regions: `}) {attrs} : signature`."""
    tail = tail.strip()
    if tail.startswith("{"):
        depth = 0
        for i, ch in enumerate(tail):
            depth += ch == "{"
            depth -= ch == "}"
            if depth == 0:
                op.attrs = tail[1:i]
                tail = tail[i + 1:].strip()
                break
    if tail.startswith(":"):
        op.in_types, op.out_types = parse_signature(tail[1:])


def parse_module(text):
    """Every op of the generic-form module, as a tree of Op/Block."""
    top = Block()
    stack = [(None, top)]  # (op owning the region, current block)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        if line.startswith("^bb"):
            owner, block = stack[-1]
            if block.ops or block.args:  # a further block of the region
                block = Block()
                owner.regions[-1].append(block)
                stack[-1] = (owner, block)
            inner = line[line.index("(") + 1:line.rindex(")")] if "(" in line else ""
            for arg in split_top(inner):
                name, typ = arg.split(":", 1)
                block.args.append(name.strip())
                block.arg_types.append(typ.strip())
            continue
        if line.startswith("}, {"):
            owner = stack[-1][0]
            block = Block()
            owner.regions.append([block])
            stack[-1] = (owner, block)
            continue
        if line.startswith("})"):
            owner, _ = stack.pop()
            parse_closing(owner, line[2:])
            continue
        m = OP_LINE.match(line)
        if not m:
            raise ValueError("cannot parse: " + line[:120])
        result, count, name, operands, tail = m.groups()
        results = []
        if result:
            results = ([f"{result}#{i}" for i in range(int(count))] if count
                       else [result])
        op = Op(results, name, [o.strip() for o in operands.split(",") if o.strip()], "")
        tail = parse_tail(op, tail)
        stack[-1][1].ops.append(op)
        if tail.endswith("({"):
            block = Block()
            op.regions.append([block])
            stack.append((op, block))
        else:
            parse_closing(op, tail)
    return top


def prop(op, key):
    m = re.search(re.escape(key) + r" = ([^,]+(?:<[^>]*>)?)", op.props)
    return m.group(1).strip() if m else None


def array_prop(op, key):
    m = re.search(re.escape(key) + r" = array<i\d+(?:: ([-\d, ]*))?>", op.props)
    if not m:
        return None
    return [int(x) for x in m.group(1).split(",")] if m.group(1) else []


# ------------------------------------------------------------------ types

STORAGE = {"f64": np.float64, "f32": np.float32, "f16": np.float16, "bf16": np.uint16, "i32": np.int32,
           "i64": np.int64, "index": np.int64, "i1": np.bool_, "i16": np.int16,
           "i8": np.int8}


def element_and_shape(typ):
    """'vector<4x2xbf16>' -> ('bf16', (4, 2)); 'f32' -> ('f32', ())."""
    if typ.startswith("vector<"):
        dims = typ[7:-1].split("x")
        return dims[-1], tuple(int(d) for d in dims[:-1])
    return typ, ()


def memref_shape(typ):
    inner = split_top(typ[7:-1])[0]
    dims = inner.split("x")
    return dims[-1], tuple(int(d) for d in dims[:-1])


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """Round to nearest even, as arith.truncf and cvt.rn.bf16.f32."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    nan = np.isnan(x)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & 1)) >> 16
    return np.where(nan, np.uint16(0x7FC0), rounded.astype(np.uint16))


def to_float(values, elem):
    """Values of a float type as numpy floats that compute in its precision
    (f32 for the 16-bit types, which the kernels compute in f32; f64)."""
    if elem == "bf16":
        return bf16_to_f32(values)
    return values.astype(np.float64 if elem == "f64" else np.float32)


def from_float(values, elem):
    if elem == "bf16":
        return f32_to_bf16(values)
    return values.astype(STORAGE[elem])


# ------------------------------------------------------------- execution

class Buffer:
    """A memref: flat storage, its shape, and where element (i, j, ...)
    lives in it (offset + i * strides[0] + ...; row-major unless the buffer
    is a strided view made by memref.subview). Shared memory also carries the
    race tracker of its bytes and where the memref starts among them."""

    def __init__(self, data, elem, tracker=None, byte_offset=0):
        self.data, self.elem = data, elem
        self.flat = data.reshape(-1)
        self.shape = data.shape
        self.offset, self.strides = 0, row_major_strides(data.shape)
        self.tracker, self.byte_offset = tracker, byte_offset

    def view(self, offsets, sizes, strides):
        """memref.subview: a Buffer sharing this one's storage."""
        out = Buffer.__new__(Buffer)
        out.elem, out.flat, out.shape = self.elem, self.flat, tuple(sizes)
        out.data = None  # not a dense array; read through flat
        out.offset = self.offset + sum(o * s for o, s in zip(offsets, self.strides))
        out.strides = tuple(st * s for st, s in zip(strides, self.strides))
        out.tracker, out.byte_offset = self.tracker, self.byte_offset
        return out


def row_major_strides(shape):
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


DYNAMIC = -(2 ** 63)  # ShapedType::kDynamic in static_offsets


def subview(op, base, dynamic_offsets):
    """memref.subview of `base` (static sizes and strides). In a kernel the
    dynamic offsets are per-lane arrays: each lane gets its own view (a
    thread's row of an output)."""
    offsets = array_prop(op, "static_offsets")
    sizes, strides = array_prop(op, "static_sizes"), array_prop(op, "static_strides")
    if DYNAMIC in sizes or DYNAMIC in strides:
        raise RuntimeError("memref.subview with dynamic sizes or strides")
    dynamic = iter(dynamic_offsets)
    offsets = [next(dynamic) if o == DYNAMIC else o for o in offsets]
    view = base.view(offsets, sizes, strides)
    # A rank-reducing subview drops unit dimensions.
    _, shape = memref_shape(op.out_types[0])
    keep, j = [], 0
    for i, size in enumerate(view.shape):
        if j < len(shape) and size == shape[j]:
            keep.append(i)
            j += 1
        elif size != 1:
            raise RuntimeError(f"memref.subview to {shape}: cannot drop dim {i}")
    view.shape = tuple(view.shape[i] for i in keep)
    view.strides = tuple(view.strides[i] for i in keep)
    return view


class RaceError(RuntimeError):
    pass


class SharedTracker:
    """Who last wrote and read each byte of a CTA's shared memory, and in
    which barrier interval ("epoch"). Another thread's write in the same
    interval seen by a read (read after write), or another thread's read in
    the same interval overwritten (write after read), is a race: the
    kernel is missing a barrier, which lockstep execution would otherwise
    hide. cp.async copies count as written by their thread when their group
    completes, and as writes at issue for the write-after-read check."""

    def __init__(self, nbytes):
        self.writer = np.full(nbytes, -1, dtype=np.int64)
        self.write_epoch = np.full(nbytes, -1, dtype=np.int64)
        self.reader = np.full(nbytes, -1, dtype=np.int64)  # -2: several
        self.read_epoch = np.full(nbytes, -1, dtype=np.int64)

    @staticmethod
    def _bytes(buf, flat, itemsize):
        """[lanes, k] element indices -> [lanes, k * itemsize] byte indices."""
        base = buf.byte_offset + flat * itemsize
        return (base[..., None] + np.arange(itemsize)).reshape(flat.shape[0], -1)

    def read(self, buf, flat, active, epoch, what):
        b = self._bytes(buf, flat, buf.data.itemsize)
        lanes = np.broadcast_to(np.arange(b.shape[0])[:, None], b.shape)
        b, lanes = b[active], lanes[active]
        bad = ((self.writer[b] >= 0) & (self.writer[b] != lanes)
               & (self.write_epoch[b] == epoch))
        if bad.any():
            i = np.argwhere(bad)[0]
            raise RaceError(f"{what}: thread {lanes[tuple(i)]} reads shared byte "
                            f"{b[tuple(i)]} that thread {self.writer[b][tuple(i)]} wrote "
                            "with no barrier between")
        b, lanes = b.reshape(-1), lanes.reshape(-1)
        order = np.argsort(b, kind="stable")
        b, lanes = b[order], lanes[order]
        prev_same = (self.read_epoch[b] == epoch) & (self.reader[b] != lanes)
        self.reader[b] = lanes
        # Several readers of one byte in one interval (also within a call).
        dup = np.zeros(len(b), dtype=bool)
        dup[1:] = (b[1:] == b[:-1]) & (lanes[1:] != lanes[:-1])
        several = np.unique(np.concatenate([b[prev_same], b[dup]]))
        self.reader[several] = -2
        self.read_epoch[b] = epoch

    def check_write(self, buf, flat, active, epoch, what):
        b = self._bytes(buf, flat, buf.data.itemsize)
        lanes = np.broadcast_to(np.arange(b.shape[0])[:, None], b.shape)
        b, lanes = b[active], lanes[active]
        read_by_other = ((self.read_epoch[b] == epoch) & (self.reader[b] != -1)
                         & (self.reader[b] != lanes))
        written_by_other = ((self.write_epoch[b] == epoch) & (self.writer[b] >= 0)
                            & (self.writer[b] != lanes))
        bad = read_by_other | written_by_other
        if bad.any():
            i = np.argwhere(bad)[0]
            raise RaceError(f"{what}: thread {lanes[tuple(i)]} writes shared byte "
                            f"{b[tuple(i)]} that another thread used with no barrier "
                            "between")
        return b, lanes

    def record_write(self, b, lanes, epoch):
        self.writer[b] = lanes
        self.write_epoch[b] = epoch


class Kernel:
    """One gpu.func of a parsed module; run() executes one CTA."""

    def __init__(self, module, name, gpu_module=None):
        """`module`: the text, or the tree parse_module made of it;
        `gpu_module`: the gpu.module holding @name (outlining names the
        kernels of one function alike, in modules of their own)."""
        self.module = parse_module(module) if isinstance(module, str) else module
        self.func, self.globals = None, {}
        self.gpu_module = gpu_module
        self._collect(self.module, name)
        if self.func is None and name is not None:
            raise ValueError(f"no gpu.func @{name}")
        self.block_size = array_prop(self.func, "known_block_size") if self.func else None

    def _collect(self, block, name, in_module=True):
        for op in block.ops:
            if op.name == "gpu.func" and f'sym_name = "{name}"' in op.attrs and in_module:
                self.func = op
            if op.name == "memref.global":
                sym = re.search(r'sym_name = "([^"]+)"', op.props).group(1)
                self.globals[sym] = op
            inner_in_module = in_module
            if op.name == "gpu.module" and self.gpu_module is not None:
                inner_in_module = f'sym_name = "{self.gpu_module}"' in op.props + op.attrs
            for region in op.regions:
                for inner in region:
                    self._collect(inner, name, inner_in_module)

    def run_grid(self, args, grid, dynamic_shared=0):
        for z in range(grid[2]):
            for y in range(grid[1]):
                for x in range(grid[0]):
                    self.run(args, (x, y, z), grid, dynamic_shared)

    def run(self, args, block_id, grid, dynamic_shared=0):
        lanes = int(np.prod(self.block_size))
        self.lanes, self.block_id, self.grid = lanes, block_id, grid
        self.shared = {}
        # Dynamic shared memory, garbage until written; cp.async copies wait
        # in groups until a wait_group completes them.
        self.dynamic_shared = Buffer(np.full(dynamic_shared, 0xC1, dtype=np.uint8), "i8",
                                     SharedTracker(dynamic_shared))
        self.pending, self.groups = [], []
        self.epoch = 0
        body = self.func.regions[0][0]
        # Scalars the host passes (sizes it computed) are the same in every lane.
        args = [np.full(lanes, a) if isinstance(a, (bool, int, np.generic)) else a
                for a in args]
        env = dict(zip(body.args, args))
        self.exec_block(body, env, np.ones(lanes, dtype=bool))

    # Values are numpy arrays with the lane as first dimension, Buffers,
    # or tuples (llvm structs).
    def constant_global(self, sym, elem, shape):
        """A constant memref.global (e.g. folded inv_freq) as a Buffer."""
        op = self.globals[sym]
        m = re.search(r"initial_value = dense<(.*?)> : tensor", op.props)
        if not m:
            raise RuntimeError(f"global @{sym} has no dense initial value")
        text = m.group(1).strip("[]")
        vals = [self.scalar(v, elem) for v in split_top(text)]
        if len(vals) == 1:
            vals = vals * int(np.prod(shape))
        return Buffer(np.array(vals).astype(STORAGE[elem]).reshape(shape), elem)

    def uniform(self, value, active):
        vals = np.unique(value[active])
        if len(vals) != 1:
            raise RuntimeError(f"non-uniform loop bound or barrier: {vals[:4]}")
        return int(vals[0])

    def exec_block(self, block, env, active):
        for op in block.ops:
            if op.name in ("scf.yield", "gpu.terminator", "gpu.return"):
                return [env[o] for o in op.operands]
            outs = self.exec_op(op, env, active)
            if outs is not None:
                for name, value in zip(op.results, outs):
                    env[name] = value
        return []

    def const(self, op):
        typ = op.out_types[0]
        elem, shape = element_and_shape(typ)
        # (i1 constants print without their type: `value = false`.)
        text = (re.search(r"value = (.*) : ", op.props) or
                re.search(r"value = (.*)$", op.props)).group(1).strip()
        if text.startswith("dense<"):
            inner = text[6:-1]
            if inner.startswith("["):
                vals = [float(v) if elem[0] in "fb" else int(v)
                        for v in inner.strip("[]").split(",")]
            else:
                vals = [inner] * int(np.prod(shape))
            arr = np.array([self.scalar(v, elem) for v in vals]).reshape(shape)
        else:
            arr = np.array(self.scalar(text, elem))
        arr = arr.astype(STORAGE[elem]) if elem != "bf16" else arr.astype(np.uint16)
        return np.broadcast_to(arr, (self.lanes,) + shape).copy()

    @staticmethod
    def scalar(text, elem):
        text = str(text).strip()
        if text in ("true", "false"):
            return text == "true"
        if elem == "f64":
            if text.startswith("0x"):
                return np.array(int(text, 16), dtype=np.uint64).view(np.float64)
            return np.float64(float(text))
        if elem in ("f32", "f16", "bf16"):
            if text.startswith("0x"):
                bits = int(text, 16)
                if elem == "f32":
                    return np.array(bits, dtype=np.uint32).view(np.float32)
                if elem == "bf16":
                    return bits
                return np.array(bits, dtype=np.uint16).view(np.float16)
            v = np.float32(float(text))
            return f32_to_bf16(np.array([v]))[0] if elem == "bf16" else v
        return int(text)

    def exec_op(self, op, env, active):
        name = op.name
        ins = [env[o] for o in op.operands]
        lanes = self.lanes
        if name == "arith.constant":
            return [self.const(op)]
        if name in ("gpu.block_id", "gpu.thread_id", "gpu.grid_dim", "gpu.block_dim"):
            dim = "xyz".index(re.search(r"dim (\w)", op.props).group(1))
            if name == "gpu.thread_id":
                tid = np.arange(lanes)
                size = self.block_size
                value = [tid % size[0], (tid // size[0]) % size[1], tid // (size[0] * size[1])][dim]
            elif name == "gpu.block_id":
                value = np.full(lanes, self.block_id[dim])
            elif name == "gpu.grid_dim":
                value = np.full(lanes, self.grid[dim])
            else:
                value = np.full(lanes, self.block_size[dim])
            return [value.astype(np.int64)]
        if name == "gpu.barrier":
            if not active.all():
                raise RuntimeError("barrier under divergent control flow")
            self.epoch += 1
            return []
        if name == "memref.get_global":
            sym = re.search(r"name = @([\w.$]+)", op.props).group(1)
            elem, shape = memref_shape(op.out_types[0])
            if "workgroup" in op.out_types[0]:
                if sym not in self.shared:
                    # Garbage, so that reading an unstaged element shows.
                    junk = np.full(shape, 0x7FC1 if elem == "bf16" else np.nan,
                                   dtype=STORAGE[elem])
                    self.shared[sym] = Buffer(junk, elem, SharedTracker(junk.nbytes))
                return [self.shared[sym]]
            return [self.constant_global(sym, elem, shape)]
        if name in ("vector.load", "memref.load"):
            buf, idx = ins[0], ins[1:]
            elem, shape = element_and_shape(op.out_types[0])
            flat = self.flat_index(buf, idx, active)
            if shape:
                flat = flat[:, None] + np.arange(shape[0])[None, :]
            if buf.tracker:
                buf.tracker.read(buf, flat.reshape(self.lanes, -1), active, self.epoch, name)
            return [buf.flat[flat]]
        if name in ("vector.store", "memref.store"):
            value, buf, idx = ins[0], ins[1], ins[2:]
            flat = self.flat_index(buf, idx, active)
            if value.ndim == 2:
                flat = flat[:, None] + np.arange(value.shape[1])[None, :]
            if buf.tracker:
                b, lanes = buf.tracker.check_write(buf, flat.reshape(self.lanes, -1),
                                                   active, self.epoch, name)
                buf.tracker.record_write(b, lanes, self.epoch)
            buf.flat[flat[active]] = value[active]
            return []
        if name == "memref.atomic_rmw":
            # Lanes in order (the combiners are order-independent).
            value, buf, idx = ins[0], ins[1], ins[2:]
            kind = re.search(r"kind = (\d+)", op.props).group(1)
            # arith::AtomicRMWKind: addi = 1, andi = 2, maxs = 6, mins = 10,
            # ori = 14 (signed storage: maxu/minu are not modelled).
            combine = {"1": np.add, "2": np.bitwise_and, "6": np.maximum,
                       "10": np.minimum, "14": np.bitwise_or}.get(kind)
            if combine is None:
                raise RuntimeError(f"memref.atomic_rmw kind {kind} is not modelled")
            flat = self.flat_index(buf, idx, active)
            old = np.zeros(lanes, buf.flat.dtype)
            for lane in np.nonzero(active)[0]:
                old[lane] = buf.flat[flat[lane]]
                buf.flat[flat[lane]] = combine(old[lane], value[lane])
            return [old]
        if name == "memref.subview":
            return [subview(op, ins[0], ins[1:])]
        if name == "arith.select" and isinstance(ins[1], Buffer):
            return [ins[1] if self.uniform(ins[0], active) else ins[2]]
        if name == "gpu.dynamic_shared_memory":
            return [self.dynamic_shared]
        if name == "memref.view":
            base, offset = ins[0], self.uniform(ins[1], active)
            elem, shape = memref_shape(op.out_types[0])
            dtype = np.dtype(STORAGE[elem])
            size = int(np.prod(shape)) * dtype.itemsize
            if offset < 0 or offset + size > base.data.size:
                raise IndexError(f"memref.view of {size} bytes at {offset} in "
                                 f"{base.data.size} bytes of dynamic shared memory")
            view = base.data[offset:offset + size].view(dtype).reshape(shape)
            return [Buffer(view, elem, base.tracker, base.byte_offset + offset)]
        if name == "nvgpu.device_async_copy":
            # Source read now (it does not change during a kernel), written
            # to shared memory only when a wait_group completes its group.
            seg = array_prop(op, "operandSegmentSizes")
            dst, dst_idx = ins[0], ins[1:1 + seg[1]]
            src = ins[1 + seg[1]]
            src_idx = ins[2 + seg[1]:2 + seg[1] + seg[3]]
            count = int(re.search(r"dstElements = (\d+)", op.props).group(1))
            src_flat = self.flat_index(src, src_idx, active)[:, None] + np.arange(count)
            dst_flat = self.flat_index(dst, dst_idx, active)[:, None] + np.arange(count)
            written = None
            if dst.tracker:  # the copy may land any time until its wait
                written = dst.tracker.check_write(dst, dst_flat, active, self.epoch, name)
            self.pending.append((dst, dst_flat[active], src.flat[src_flat[active]],
                                 written))
            return [("async-copy",)]
        if name == "nvgpu.device_async_create_group":
            if not active.all():
                raise RuntimeError("cp.async group committed under divergent control flow")
            self.groups.append(self.pending)
            self.pending = []
            return [("async-group",)]
        if name == "nvgpu.device_async_wait":
            m = re.search(r"numGroups = (\d+)", op.props)
            keep = int(m.group(1)) if m else 0
            done = self.groups[:len(self.groups) - keep]
            self.groups = self.groups[len(self.groups) - keep:] if keep else []
            for group in done:
                for dst, where, values, written in group:
                    dst.flat[where] = values
                    if written is not None:
                        dst.tracker.record_write(*written, self.epoch)
            return []
        if name == "vector.deinterleave":
            return [ins[0][:, 0::2], ins[0][:, 1::2]]
        if name == "nvgpu.ldmatrix":
            return [self.ldmatrix(op, ins, active)]
        if name == "nvvm.mma.sync":
            return [self.mma(op, ins)]
        if name == "llvm.extractvalue":
            return [ins[0][array_prop(op, "position")[0]]]
        if name == "gpu.shuffle":
            mode = re.search(r"shuffle_mode (\w+)", op.props).group(1)
            value, offset, width = ins
            if mode != "xor" or self.uniform(width, active) != 32:
                raise RuntimeError("only xor shuffles over whole warps are modelled")
            if not active.all():
                raise RuntimeError("shuffle under divergent control flow")
            partner = np.arange(lanes) ^ offset.astype(np.int64)
            return [value[partner], np.ones(lanes, dtype=bool)]
        if name == "scf.for":
            lb, ub, step = ins[:3]
            carried = list(ins[3:])
            body = op.regions[0][0]
            iv = lb.copy()
            while True:
                # Per-lane trip counts (a thread's own loop, e.g. over its
                # heads); lanes that are done keep their values.
                running = active & (iv < ub)
                if not running.any():
                    return carried
                inner = dict(env)
                inner[body.args[0]] = iv.copy()
                inner.update(zip(body.args[1:], carried))
                nxt = self.exec_block(body, inner, running)
                carried = [n if isinstance(n, Buffer) and n is c  # a buffer carried through
                           else np.where(running.reshape((lanes,) + (1,) * (n.ndim - 1)), n, c)
                           for n, c in zip(nxt, carried)]
                iv = iv + step
        if name == "scf.if":
            cond = ins[0].astype(bool)
            then_active, else_active = active & cond, active & ~cond
            results_then = (self.exec_block(op.regions[0][0], dict(env), then_active)
                            if then_active.any() else None)
            results_else = None
            if len(op.regions) > 1 and op.regions[1][0].ops and else_active.any():
                results_else = self.exec_block(op.regions[1][0], dict(env), else_active)
            if not op.results:
                return []
            merged = []
            for i in range(len(op.results)):
                a = results_then[i] if results_then else results_else[i]
                b = results_else[i] if results_else else a
                if not isinstance(a, np.ndarray):  # a token: uniform branches
                    merged.append(a)
                    continue
                c = cond.reshape((lanes,) + (1,) * (a.ndim - 1))
                merged.append(np.where(c, a, b))
            return merged
        return [self.arith(op, ins)]

    def flat_index(self, buf, idx, active):
        idx = [np.where(active, i, 0).astype(np.int64) for i in idx]
        for d, (i, size) in enumerate(zip(idx, buf.shape)):
            bad = active & ((i < 0) | (i >= size))
            if bad.any():
                raise IndexError(f"out of bounds: dim {d} index {i[bad][:4]} size {size}")
        flat = np.full(self.lanes, buf.offset, np.int64)
        for i, stride in zip(idx, buf.strides):
            flat += i * stride
        # (Inactive lanes of a per-lane view may point anywhere.)
        return np.where(active, flat, 0)

    def ldmatrix(self, op, ins, active):
        buf, idx = ins[0], ins[1:]
        tiles = int(re.search(r"numTiles = (\d+)", op.props).group(1))
        transpose = "transpose = true" in op.props
        flat = self.flat_index(buf, idx, active)
        if buf.tracker:  # each lane's row address: 8 elements
            buf.tracker.read(buf, flat[:, None] + np.arange(8)[None, :], active,
                             self.epoch, "nvgpu.ldmatrix")
        rows = buf.flat[flat[:, None] + np.arange(8)[None, :]]  # [lanes, 8]
        out = np.zeros((self.lanes, tiles, 2), dtype=buf.flat.dtype)
        for warp in range(self.lanes // LANES_PER_WARP):
            base = warp * LANES_PER_WARP
            for i in range(tiles):
                matrix = rows[base + 8 * i: base + 8 * i + 8]  # [row, col]
                for l in range(LANES_PER_WARP):
                    if transpose:
                        out[base + l, i] = matrix[2 * (l % 4): 2 * (l % 4) + 2, l // 4]
                    else:
                        out[base + l, i] = matrix[l // 4, 2 * (l % 4): 2 * (l % 4) + 2]
        return out

    def mma(self, op, ins):
        ptx = re.search(r"multiplicandAPtxType = #nvvm.mma_type<(\w+)>", op.props).group(1)
        a_regs, b_regs, c = ins[0:4], ins[4:6], ins[6:10]
        if ptx == "tf32":
            # m16n8k8: A registers hold (row g, k t), (g+8, t), (g, t+4),
            # (g+8, t+4); B (k t, col g), (k t+4, col g). A register is an
            # f32 of which the hardware reads the tf32 bits (the low 13
            # mantissa bits are ignored).
            def values(reg):
                bits = reg.astype(np.int64).astype(np.uint32) & np.uint32(0xFFFFE000)
                return bits.view(np.float32).astype(np.float64)

            a, b = [values(r) for r in a_regs], [values(r) for r in b_regs]

            def fill(A, B, lanes, g, t):
                A[g, t], A[g + 8, t] = a[0][lanes], a[1][lanes]
                A[g, t + 4], A[g + 8, t + 4] = a[2][lanes], a[3][lanes]
                B[t, g], B[t + 4, g] = b[0][lanes], b[1][lanes]
            return self.warp_mma(8, fill, c)

        def pair_values(reg):  # [lanes] register -> [lanes, 2] f64
            if ptx == "bf16":
                bits = reg.astype(np.uint32)
                halves = np.stack([bits & 0xFFFF, bits >> 16], axis=1).astype(np.uint16)
                return bf16_to_f32(halves).astype(np.float64)
            return reg.astype(np.float64)  # vector<2xf16>

        a, b = [pair_values(r) for r in a_regs], [pair_values(r) for r in b_regs]

        def fill(A, B, lanes, g, t):  # m16n8k16
            for j in range(2):
                A[g, 2 * t + j] = a[0][lanes, j]
                A[g + 8, 2 * t + j] = a[1][lanes, j]
                A[g, 2 * t + 8 + j] = a[2][lanes, j]
                A[g + 8, 2 * t + 8 + j] = a[3][lanes, j]
                B[2 * t + j, g] = b[0][lanes, j]
                B[2 * t + 8 + j, g] = b[1][lanes, j]
        return self.warp_mma(16, fill, c)

    def warp_mma(self, k, fill, c):
        """D = A B + C per warp for an m16n8k`k` mma: `fill` places the
        warp's A (16 x k) and B (k x 8) registers; C/D hold (row g, col
        2t..2t+1), (row g+8, col 2t..)."""
        d = [np.zeros(self.lanes, np.float32) for _ in range(4)]
        for warp in range(self.lanes // LANES_PER_WARP):
            lanes = np.arange(warp * LANES_PER_WARP, (warp + 1) * LANES_PER_WARP)
            g, t = (lanes % 32) // 4, lanes % 4
            A, B, C = np.zeros((16, k)), np.zeros((k, 8)), np.zeros((16, 8))
            fill(A, B, lanes, g, t)
            for j in range(2):
                C[g, 2 * t + j] = c[j][lanes]
                C[g + 8, 2 * t + j] = c[2 + j][lanes]
            D = (A @ B + C).astype(np.float32)
            for j in range(2):
                d[j][lanes] = D[g, 2 * t + j]
                d[2 + j][lanes] = D[g + 8, 2 * t + j]
        return tuple(d)

    def arith(self, op, ins):
        name = op.name
        out_elem, out_shape = element_and_shape(op.out_types[0]) if op.out_types else (None, ())
        in_elem = element_and_shape(op.in_types[0])[0] if op.in_types else None
        with np.errstate(all="ignore"):
            if name in ("arith.addf", "arith.subf", "arith.mulf", "arith.divf",
                        "arith.maximumf", "arith.minimumf"):
                x, y = (to_float(v, in_elem) for v in ins)
                f = {"arith.addf": np.add, "arith.subf": np.subtract,
                     "arith.mulf": np.multiply, "arith.divf": np.divide,
                     "arith.maximumf": np.maximum, "arith.minimumf": np.minimum}[name]
                return from_float(f(x, y), out_elem)
            if name == "arith.negf":
                return from_float(-to_float(ins[0], in_elem), out_elem)
            if name == "math.absf":
                return from_float(np.abs(to_float(ins[0], in_elem)), out_elem)
            if name == "math.roundeven":
                return from_float(np.rint(to_float(ins[0], in_elem)), out_elem)
            if name == "arith.fptosi":
                return np.trunc(to_float(ins[0], in_elem)).astype(STORAGE[out_elem])
            if name == "arith.bitcast":
                return np.ascontiguousarray(ins[0]).view(STORAGE[out_elem])
            if name in ("arith.shrsi", "arith.shrui", "arith.shli"):
                x, y = ins
                if name == "arith.shrui":
                    unsigned = {np.int32: np.uint32, np.int64: np.uint64}[x.dtype.type]
                    return (x.view(unsigned) >> y.astype(unsigned)).view(x.dtype)
                return (x >> y if name == "arith.shrsi" else x << y).astype(x.dtype)
            if name == "vector.reduction":
                kind = re.search(r"vector.kind<(\w+)>", op.props).group(1)
                f = {"add": np.sum, "mul": np.prod, "and": np.all, "or": np.any,
                     "minsi": np.min, "maxsi": np.max, "maxnumf": np.nanmax,
                     "minnumf": np.nanmin, "maximumf": np.max,
                     "minimumf": np.min}[kind]
                x = ins[0]
                if x.dtype == np.bool_ or kind not in ("and", "or"):
                    return f(x, axis=1).astype(x.dtype)
                raise RuntimeError("bitwise reductions of integers are not modelled")
            if name == "math.powf":
                x, y = (to_float(v, in_elem) for v in ins)
                return from_float(powf(x, y), out_elem)
            if name == "math.exp2":
                return from_float(np.exp2(to_float(ins[0], in_elem)), out_elem)
            if name == "math.fma":
                if in_elem == "f64":  # fused: exact, then rounded once
                    return np.array([float(Fraction(a) * Fraction(b) + Fraction(c))
                                     if np.isfinite([a, b, c]).all() else a * b + c
                                     for a, b, c in zip(*ins)])
                x, y, z = (to_float(v, in_elem).astype(np.float64) for v in ins)
                return from_float((x * y + z).astype(np.float32), out_elem)
            if name in ("math.atan2", "math.sin", "math.cos") and in_elem == "f32":
                return libm_f32(name[5:] + "f", *ins)
            if name in ("math.ceil", "math.floor"):
                f = np.ceil if name == "math.ceil" else np.floor
                return from_float(f(to_float(ins[0], in_elem)), out_elem)
            if name == "arith.extf":
                return to_float(ins[0], in_elem).astype(STORAGE[out_elem]) \
                    if out_elem != "bf16" else ins[0]
            if name == "arith.truncf":
                return from_float(to_float(ins[0], in_elem), out_elem)
            if name == "arith.sitofp":
                return from_float(ins[0].astype(np.float64 if out_elem == "f64" else np.float32),
                                  out_elem)
            if name in ("arith.index_cast", "arith.extsi"):
                return ins[0].astype(STORAGE[out_elem])
            if name == "arith.select":
                cond, x, y = ins
                if cond.ndim < x.ndim:
                    cond = cond.reshape(cond.shape + (1,) * (x.ndim - cond.ndim))
                return np.where(cond, x, y)
            if name == "arith.cmpi":
                pred = int(re.search(r"predicate = (\d+)", op.props).group(1))
                x, y = ins
                if pred >= 6:  # unsigned
                    x, y = x.astype(np.uint64), y.astype(np.uint64)
                return [x == y, x != y, x < y, x <= y, x > y, x >= y,
                        x < y, x <= y, x > y, x >= y][pred]
            if name == "arith.cmpf":
                pred = int(re.search(r"predicate = (\d+)", op.props).group(1))
                x, y = (to_float(v, in_elem) for v in ins)
                unordered = np.isnan(x) | np.isnan(y)
                ordered = [None, x == y, x > y, x >= y, x < y, x <= y, x != y]
                if 1 <= pred <= 6:
                    return ordered[pred] & ~unordered
                if pred == 7:
                    return ~unordered
                raise RuntimeError(f"cmpf predicate {pred} not modelled")
            ints = {"arith.addi": np.add, "arith.subi": np.subtract,
                    "arith.muli": np.multiply, "arith.andi": np.bitwise_and,
                    "arith.ori": np.bitwise_or, "arith.xori": np.bitwise_xor,
                    "arith.minsi": np.minimum, "arith.maxsi": np.maximum}
            if name in ints:
                return ints[name](ins[0], ins[1]).astype(ins[0].dtype)
            if name in ("arith.divui", "arith.remui"):
                x, y = ins[0].astype(np.uint64), ins[1].astype(np.uint64)
                r = x // y if name == "arith.divui" else x % y
                return r.astype(ins[0].dtype)
            if name == "arith.divsi":
                x, y = ins
                return (np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))).astype(x.dtype)
            if name == "arith.ceildivsi":  # ceil(x / y) = -floor(-x / y)
                x, y = ins
                return (-((-x) // y)).astype(x.dtype)
            if name == "arith.remsi":
                x, y = ins
                return (x - (np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))) * y).astype(x.dtype)
            if name == "vector.extract":
                pos = array_prop(op, "static_position")
                return ins[0][(slice(None),) + tuple(pos)]
            if name == "vector.broadcast":
                x = ins[0]
                return np.broadcast_to(x.reshape(x.shape + (1,) * len(out_shape)),
                                       (self.lanes,) + out_shape).copy()
            if name == "vector.from_elements":
                return np.stack(ins, axis=1).reshape((self.lanes,) + out_shape)
            if name == "vector.shuffle":
                mask = array_prop(op, "mask")
                both = np.concatenate(ins, axis=1)
                return both[:, mask]
            if name == "vector.interleave":
                x, y = ins
                return np.stack([x, y], axis=-1).reshape(x.shape[0], -1)
            if name == "vector.bitcast":
                x = np.ascontiguousarray(ins[0])
                return x.view(STORAGE[out_elem]).reshape((self.lanes,) + out_shape)
        raise RuntimeError(f"op {name} is not modelled by the emulator")


# ------------------------------------------------------------- host code

def run_host(module_text, func_name, args):
    """Runs the host function `func_name` of a module after bufferization
    and gpu-kernel-outlining (device buffers after mrope-gpu-device-allocations,
    or host buffers): memref.alloc, gpu.alloc, gpu.memcpy, memref.copy and gpu.launch_func
    (each kernel through Kernel), with `args` (Buffers) as its arguments.
    Host and device memory are one here. Returns the Buffers it returns."""
    module = parse_module(module_text)
    func = next(op for op in module.ops[0].regions[0][0].ops
                if op.name == "func.func" and f'sym_name = "{func_name}"' in op.props)
    body = func.regions[0][0]
    env = dict(zip(body.args, args))
    kernels = {}
    for op in body.ops:
        ins = [env.get(o) for o in op.operands]
        if op.name == "arith.constant":
            # (`value = 3 : i64`; an i1 prints as `value = true`.)
            text = re.search(r"value = ([^:>]*)", op.props).group(1)
            env[op.results[0]] = Kernel.scalar(text, op.out_types[0])
        elif op.name in ("arith.index_cast", "arith.index_castui"):
            env[op.results[0]] = ins[0]  # (a static size: a Python int)
        elif op.name in ("gpu.alloc", "memref.alloc"):
            elem, shape = memref_shape(op.out_types[0])
            # Junk a kernel must not read before writing: finite (as what a
            # GPU allocation holds), so that it is not absorbed like a NaN
            # (a NaN compares false and drops out of a select).
            junk = np.full(shape, 0x4479 if elem == "bf16" else 0x5A5A, dtype=STORAGE[elem])
            if elem in ("f32", "f16"):
                junk[...] = 1000.0
            env[op.results[0]] = Buffer(junk, elem)
        elif op.name == "gpu.memset":
            dst, value = [v for v in ins if v is not None]  # after the async deps
            dst.flat[:] = value
        elif op.name == "gpu.memcpy":
            dst, src = [v for v in ins if isinstance(v, Buffer)]
            dst.flat[:] = src.flat
        elif op.name == "memref.copy":  # host buffers (e.g. an operand used twice)
            src, dst = ins
            dst.flat[:] = src.flat
        elif op.name == "gpu.launch_func":
            segments = array_prop(op, "operandSegmentSizes")
            values, pos = [], 0
            for size in segments:
                values.append(ins[pos:pos + size])
                pos += size
            grid = [int(v) for v in values[1] + values[2] + values[3]]
            block = [int(v) for v in values[4] + values[5] + values[6]]
            gpu_module, name = re.search(r"kernel = @([\w$.]+)::@([\w$.]+)",
                                         op.props).groups()
            if (gpu_module, name) not in kernels:
                kernels[(gpu_module, name)] = Kernel(module, name, gpu_module)
            kernel = kernels[(gpu_module, name)]
            if kernel.block_size and list(kernel.block_size) != block:
                raise RuntimeError(f"{name}: launched with {block}, known {kernel.block_size}")
            kernel.block_size = block
            shared = int(values[10][0]) if values[10] else 0
            kernel.run_grid(values[11], grid, shared)
        elif op.name == "func.return":
            return ins
        elif op.name == "memref.get_global":
            sym = re.search(r"name = @([\w.$]+)", op.props).group(1)
            elem, shape = memref_shape(op.out_types[0])
            if "globals" not in kernels:
                kernels["globals"] = Kernel(module, None)
            env[op.results[0]] = kernels["globals"].constant_global(sym, elem, shape)
        elif op.name in ("gpu.wait", "gpu.dealloc"):
            pass
        elif op.name == "memref.subview":
            if any(v is None for v in ins[1:]):
                raise RuntimeError("memref.subview with offsets computed on the device")
            env[op.results[0]] = subview(op, ins[0], [int(v) for v in ins[1:]])
        else:
            raise RuntimeError(f"host op {op.name} is not modelled by the emulator")
        for name in op.results:
            env.setdefault(name, None)
    return []
