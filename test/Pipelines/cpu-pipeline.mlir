// RUN: mrope-opt %s --mrope-cpu-pipeline | FileCheck %s
// RUN: mrope-opt %s --mrope-to-linalg-pipeline | FileCheck %s --check-prefix=LINALG
// RUN: mrope-opt %s '--mrope-cpu-pipeline=threads=true task-size=2 token-tile=2' | FileCheck %s --check-prefix=THREADS
// RUN: mrope-opt %s --mrope-cpu-pipeline | FileCheck %s --check-prefix=NOASYNC

// threads=true hands the loop over tokens to the MLIR async runtime in tasks
// (the rotation body is outlined into parallel_compute_fn); the default
// pipeline stays free of it (no runtime library needed).
// THREADS-LABEL: llvm.func @rotate
// THREADS: llvm.call @mlirAsyncRuntimeCreateGroup
// THREADS: llvm.call @mlirAsyncRuntimeAwaitAllInGroup
// THREADS-LABEL: llvm.func @parallel_compute_fn
// THREADS: llvm.intr.roundeven
// THREADS: llvm.store {{.*}} : vector<8xi16>, !llvm.ptr
// NOASYNC-NOT: mlirAsync
// NOASYNC: llvm.func @rotate
// NOASYNC-NOT: mlirAsync
// NOASYNC-NOT: llvm.call @{{.*}}sin
// NOASYNC-NOT: llvm.call @{{.*}}cos
// NOASYNC-NOT: llvm.intr.sin
// NOASYNC-NOT: llvm.intr.cos
// bf16 <-> f32 conversions are integer vector ops (arith-expand), never
// fptrunc/fpext, which LLVM turns into a libcall per element on CPUs
// without AVX512-BF16.
// NOASYNC-NOT: llvm.fptrunc
// NOASYNC-NOT: llvm.fpext

// The CPU pipeline ends in the LLVM dialect (and nothing else, so mlir-runner
// can read it back); the portable one in linalg on tensors with no mrope op
// left. bf16 arithmetic is f32 arithmetic rounded to bf16 after each op
// (the reference's bits). The 8 pairs are rotated as word pairs: per token,
// cos/sin of the even pairs and of the odd pairs are one vector<4xf32> each
// (rounded to bf16 once); each NeoX half of a 16-channel row is one load of
// 8 words whose even and odd words become two vector<4xf32> by a shift and a
// mask, and one store. Returning the rotated arguments clones them for the
// caller (ownership-based deallocation); the clone must be lowered too.
// CHECK-LABEL: llvm.func @rotate
// CHECK-NOT: mrope.
// CHECK-NOT: linalg.
// CHECK-NOT: bufferization.
// CHECK-NOT: unrealized_conversion_cast
// CHECK-NOT: #arith
// cos/sin in arithmetic only: reduction by pi/2 (roundeven, FMAs), the
// polynomials, no libm call anywhere.
// CHECK: llvm.intr.roundeven({{.*}}) : (vector<4xf32>) -> vector<4xf32>
// CHECK: llvm.intr.fma({{.*}}) : (vector<4xf32>, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
// Rounding cos/sin to bf16: add the round-to-nearest-even bias, keep the
// high half.
// CHECK: llvm.lshr {{.*}} : vector<4xi32>
// CHECK: llvm.trunc {{.*}} : vector<4xi32> to vector<4xi16>
// The loop over heads (row load to row store) is vector code with no calls
// and no sin/cos: those are per token. Each NeoX half of a bf16 row is
// loaded and stored as an i16 vector (mrope-bf16-memory-as-i16) and split
// into f32 lanes right after the load: no bf16 vector is shuffled.
// CHECK: %[[X1:.+]] = llvm.load {{.*}} -> vector<8xi16>
// CHECK-NOT: llvm.call
// CHECK-NOT: llvm.intr.sincos
// CHECK: %[[X2:.+]] = llvm.load {{.*}} -> vector<8xi16>
// CHECK-NOT: llvm.call
// CHECK-NOT: llvm.intr.sincos
// CHECK-NOT: llvm.shufflevector
// CHECK: %[[X1B:.+]] = llvm.bitcast %{{.+}} : vector<8xbf16> to vector<4xi32>
// CHECK: %[[X1EVEN:.+]] = llvm.shl %[[X1B]], %{{.+}} : vector<4xi32>
// CHECK: %[[X1ODD:.+]] = llvm.and %[[X1B]], %{{.+}} : vector<4xi32>
// CHECK-NOT: llvm.shufflevector
// CHECK: llvm.fmul {{.*}} : vector<4xf32>
// CHECK-NOT: llvm.call
// CHECK-NOT: llvm.intr.sincos
// CHECK-NOT: llvm.shufflevector
// CHECK: llvm.fsub {{.*}} : vector<4xf32>
// CHECK-NOT: llvm.call
// CHECK-NOT: llvm.intr.sincos
// Each half's even and odd results joined by a shift and an or, stored.
// CHECK: %[[JOINED:.+]] = llvm.or %{{.+}}, %{{.+}} : vector<4xi32>
// CHECK: %[[WORDS:.+]] = llvm.bitcast %[[JOINED]] : vector<4xi32> to vector<8xbf16>
// CHECK: %[[BITS:.+]] = llvm.bitcast %[[WORDS]] : vector<8xbf16> to vector<8xi16>
// CHECK: llvm.store %[[BITS]], {{.*}} : vector<8xi16>, !llvm.ptr
// CHECK-NOT: llvm.call
// CHECK: llvm.store {{.*}} : vector<8xi16>, !llvm.ptr
// NOASYNC-NOT: llvm.store {{.*}} : vector<{{.*}}bf16>
// NOASYNC-NOT: llvm.load {{.*}} -> vector<{{.*}}bf16>
// CHECK-NOT: bufferization.
// CHECK-NOT: unrealized_conversion_cast
// LINALG-LABEL: func.func @rotate
// LINALG-NOT: mrope.
// LINALG: linalg.generic
// LINALG: return {{.*}} : tensor<1x4x6x16xbf16>, tensor<1x2x6x16xbf16>
func.func @rotate(%q: tensor<1x4x6x16xbf16>, %k: tensor<1x2x6x16xbf16>) -> (tensor<1x4x6x16xbf16>, tensor<1x2x6x16xbf16>) {
  %p, %d, %n = mrope.position_ids <qwen3vl> [[text 2, image 1x2x2]] : tensor<3x1x6xi64>, tensor<1x1xi64>, tensor<1xi64>
  %f = mrope.inv_freq theta = 5.000000e+06 : tensor<8xf32>
  %a, %b = mrope.apply %q, %k positions(%p : tensor<3x1x6xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <interleaved, section = [3, 3, 2]>, rotary_dim = 16> : tensor<1x4x6x16xbf16>, tensor<1x2x6x16xbf16>
  return %a, %b : tensor<1x4x6x16xbf16>, tensor<1x2x6x16xbf16>
}
