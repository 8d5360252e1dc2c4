// mrope.rope_index in a device-buffer function: the positions' fill, then
// three kernels of one thread per row (blocks per kind; each row's scan,
// its grid cursors from the blocks of the rows before it; the status, the
// first row with an error or the grids left over). No host code reads the
// device buffers; every kernel assembles for sm_90a. (Results: the warp
// emulator runs them against the golden data, python/tests/test_gpu_loops_emulated.py.)
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" -o %t.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t.mlir
// RUN: %python %S/../Tools/Inputs/extract_ptx.py position_ids_kernel_0::position_ids_kernel < %t.mlir > %t.counts.ptx
// RUN: FileCheck %s --check-prefix=COUNTS < %t.counts.ptx
// RUN: %ptxas -arch=sm_90a %t.counts.ptx -o %t.counts.cubin
// RUN: %python %S/../Tools/Inputs/extract_ptx.py position_ids_kernel_1::position_ids_kernel < %t.mlir > %t.rows.ptx
// RUN: FileCheck %s --check-prefix=ROWS < %t.rows.ptx
// A token's (tau, eta, omega) in its block are counted, not divided out of
// its index: no 64-bit division (a long instruction sequence) in the scan.
// RUN: not grep -E "(div|rem)\.[su]64" %t.rows.ptx
// RUN: %ptxas -arch=sm_90a %t.rows.ptx -o %t.rows.cubin
// RUN: %python %S/../Tools/Inputs/extract_ptx.py position_ids_kernel_2::position_ids_kernel < %t.mlir > %t.status.ptx
// RUN: %ptxas -arch=sm_90a %t.status.ptx -o %t.status.cubin

// HOST-LABEL: llvm.func @position_ids
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @position_ids_kernel::@position_ids_kernel
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @position_ids_kernel_0::@position_ids_kernel
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @position_ids_kernel_1::@position_ids_kernel
// HOST-NOT: llvm.load
// HOST: gpu.launch_func @position_ids_kernel_2::@position_ids_kernel
// HOST-NOT: llvm.load
// HOST-NOT: gpu.launch_func
// HOST: llvm.return

// One thread per row (3 rows), each counting <vision_start> + pad pairs.
// COUNTS: .visible .entry position_ids_kernel(
// COUNTS: .maxntid 3, 1, 1
// COUNTS: setp.eq.b64 {{.*}}, 151652;
// The scan: absolute time's temporal index (tau * second_per_grid) * 2 in
// f32, truncated to an integer as the reference's .long() does.
// ROWS: .visible .entry position_ids_kernel(
// ROWS: .maxntid 3, 1, 1
// ROWS: mul.rn.f32
// ROWS: add.rn.f32
// ROWS: cvt.rzi.s64.f32
// ROWS: st.global
func.func @position_ids(%ids: tensor<3x48xi64>, %mask: tensor<3x48xi64>,
                        %images: tensor<2x3xi64>, %videos: tensor<2x3xi64>,
                        %spg: tensor<2xf32>)
    -> (tensor<3x3x48xi64>, tensor<3x1xi64>, tensor<3xi64>, tensor<4xi64>) {
  %p, %d, %n, %s = mrope.rope_index %ids mask(%mask : tensor<3x48xi64>)
      images(%images : tensor<2x3xi64>) videos(%videos : tensor<2x3xi64>)
      second_per_grid(%spg : tensor<2xf32>) design <absolute_time, tokens_per_second = 2.0>
      : tensor<3x48xi64> -> tensor<3x3x48xi64>, tensor<3x1xi64>, tensor<3xi64>, tensor<4xi64>
  return %p, %d, %n, %s : tensor<3x3x48xi64>, tensor<3x1xi64>, tensor<3xi64>, tensor<4xi64>
}
