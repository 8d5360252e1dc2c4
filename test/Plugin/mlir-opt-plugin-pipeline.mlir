// The registered pipelines come with the pass plugin: Debian's mlir-opt lowers
// mrope to LLVM and mlir-runner executes it (positions of a Qwen2-VL prompt
// <vision_start>, a 1x2 image, text: t = 1, 1; h = 1, 1; w = 1, 2; then 3).
// UNSUPPORTED: sanitizers
// RUN: mlir-opt %s --load-dialect-plugin=%mrope_plugin --load-pass-plugin=%mrope_plugin \
// RUN:   --pass-pipeline="builtin.module(mrope-cpu-pipeline)" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_lib_dir/libmlir_c_runner_utils.so,%mlir_lib_dir/libmlir_runner_utils.so \
// RUN: | FileCheck %s

// CHECK: [0,   1,   1,   3]
// CHECK: [0,   1,   1,   3]
// CHECK: [0,   1,   2,   3]
func.func private @printMemrefI64(memref<*xi64>)
func.func @main() {
  %ids = arith.constant dense<[[151652, 151655, 151655, 8]]> : tensor<1x4xi64>
  %grid = arith.constant dense<[[1, 2, 4]]> : tensor<1x3xi64>
  %p, %d, %n, %st = mrope.rope_index %ids images(%grid : tensor<1x3xi64>) design <mrope> : tensor<1x4xi64> -> tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  %u = tensor.cast %p : tensor<3x1x4xi64> to tensor<*xi64>
  %m = bufferization.to_buffer %u : tensor<*xi64> to memref<*xi64>
  call @printMemrefI64(%m) : (memref<*xi64>) -> ()
  return
}
