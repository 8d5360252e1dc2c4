// RUN: mrope-opt %s '--mrope-cpu-pipeline=avx512-bf16=1 vector-bits=512' | FileCheck %s --implicit-check-not=cvtneps2bf16
// RUN: mrope-opt %s '--mrope-cpu-pipeline=avx512-bf16=1 vector-bits=512' | mlir-translate --mlir-to-llvmir | llc -O3 -mtriple=x86_64-unknown-linux-gnu -mattr=+avx512f,+avx512bw,+avx512vl,+avx512bf16 | FileCheck %s --check-prefix=ASM --implicit-check-not=vcvtneps2bf16
// RUN: mrope-opt %s '--mrope-cpu-pipeline=avx512-bf16=0 vector-bits=512' | FileCheck %s --check-prefix=OFF --implicit-check-not=avx512bf16

// The S0 row (128 channels, 64 pairs, bf16) with avx512-bf16: two groups of
// 32 pairs per row, each rounded by six two-vector conversions (four
// products, the differences, the sums) -- every one-vector conversion
// fused (mrope-x86-pack-bf16-conversions) -- and two word permutations.
// CHECK-LABEL: llvm.func @rotate
// CHECK-COUNT-6: llvm.call_intrinsic "llvm.x86.avx512bf16.cvtne2ps2bf16.512"(%{{.+}}, %{{.+}}) : (vector<16xf32>, vector<16xf32>) -> vector<32xbf16>
// CHECK: llvm.shufflevector %{{.+}}, %{{.+}} [{{.*}}] : vector<32xi16>
// OFF-LABEL: llvm.func @rotate

// In the assembly, the loop over heads tests the row's words (a masked
// vptestmw chain and one kortest) and, on the fast path, rotates 32 pairs
// with zmm multiplies, six vcvtne2ps2bf16, shifts and masks, and two vpermw
// -- no call, no one-vector conversion, no spill reload between.
// ASM-LABEL: rotate:
// ASM: vptestmw %zmm{{[0-9]+}}, %zmm{{[0-9]+}}, %k{{[0-9]}}
// ASM-NEXT: vptestmw %zmm{{[0-9]+}}, %zmm{{[0-9]+}}, %k{{[0-9]}} {%k{{[0-9]}}}
// ASM-NEXT: kortestd
// ASM-NOT: call
// ASM-NOT: (%rsp)
// ASM-COUNT-6: vcvtne2ps2bf16 %zmm{{[0-9]+}}, %zmm{{[0-9]+}}, %zmm{{[0-9]+}}
// ASM-NOT: call
// ASM-NOT: (%rsp)
// ASM: vpermw %zmm{{[0-9]+}}, %zmm{{[0-9]+}}, %zmm{{[0-9]+}}
// ASM-NEXT: vpermw %zmm{{[0-9]+}}, %zmm{{[0-9]+}}, %zmm{{[0-9]+}}
func.func @rotate(%q: tensor<1x4x6x128xbf16>, %k: tensor<1x2x6x128xbf16>, %pos: tensor<3x1x6xi64>) -> (tensor<1x4x6x128xbf16>, tensor<1x2x6x128xbf16>) {
  %f = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x6xi64>) freqs(%f : tensor<64xf32>) layout bhsd rotary <alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128> : tensor<1x4x6x128xbf16>, tensor<1x2x6x128xbf16>
  return %a, %b : tensor<1x4x6x128xbf16>, tensor<1x2x6x128xbf16>
}
