// Inputs that cannot be right produce a status naming the rule, the
// sequence and the block instead of silently shifted positions.
// RUN: mrope-opt %s --mrope-cpu-pipeline | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_lib_dir/libmlir_c_runner_utils.so,%mlir_lib_dir/libmlir_runner_utils.so | FileCheck %s

// <vs>=151652 <ve>=151653 image_pad=151655 video_pad=151656

func.func private @printMemrefI64(memref<*xi64>)

func.func @status(%st: tensor<4xi64>) {
  %u = tensor.cast %st : tensor<4xi64> to tensor<*xi64>
  %m = bufferization.to_buffer %u : tensor<*xi64> to memref<*xi64>
  call @printMemrefI64(%m) : (memref<*xi64>) -> ()
  return
}

func.func @main() {
  // Valid: one 1x4x4 image (2x2 = 4 tokens after the merge).
  // CHECK: [0,  0,  0,  0]
  %ids0 = arith.constant dense<[[1, 151652, 151655, 151655, 151655, 151655, 151653, 2]]> : tensor<1x8xi64>
  %img0 = arith.constant dense<[[1, 4, 4]]> : tensor<1x3xi64>
  %p0, %d0, %n0, %s0 = mrope.rope_index %ids0 images(%img0 : tensor<1x3xi64>) design <mrope> : tensor<1x8xi64> -> tensor<3x1x8xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  call @status(%s0) : (tensor<4xi64>) -> ()

  // Code 1: the grid says 4 tokens but the row has 3 pad tokens (sequence 1,
  // block 0, 3 pad tokens found before <ve>).
  // CHECK: [1,  1,  0,  3]
  %ids1 = arith.constant dense<[[1, 2, 3, 4, 5, 6, 7, 8], [1, 151652, 151655, 151655, 151655, 151653, 2, 3]]> : tensor<2x8xi64>
  %img1 = arith.constant dense<[[1, 4, 4]]> : tensor<1x3xi64>
  %p1, %d1, %n1, %s1 = mrope.rope_index %ids1 images(%img1 : tensor<1x3xi64>) design <mrope> : tensor<2x8xi64> -> tensor<3x2x8xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  call @status(%s1) : (tensor<4xi64>) -> ()

  // Code 1 (detail -1): a pad token outside any block, i.e. more pad tokens
  // than the grid of block 0 covers.
  // CHECK: [1,  0,  0,  -1]
  %ids2 = arith.constant dense<[[151652, 151655, 151655, 151655, 151655, 151655, 151653, 2]]> : tensor<1x8xi64>
  %p2, %d2, %n2, %s2 = mrope.rope_index %ids2 images(%img0 : tensor<1x3xi64>) design <mrope> : tensor<1x8xi64> -> tensor<3x1x8xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  call @status(%s2) : (tensor<4xi64>) -> ()

  // Code 2: two grids for one block (sequence and block -1, 1 unused grid).
  // CHECK: [2,  -1,  -1,  1]
  %img3 = arith.constant dense<[[1, 4, 4], [1, 2, 2]]> : tensor<2x3xi64>
  %p3, %d3, %n3, %s3 = mrope.rope_index %ids0 images(%img3 : tensor<2x3xi64>) design <mrope> : tensor<1x8xi64> -> tensor<3x1x8xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  call @status(%s3) : (tensor<4xi64>) -> ()

  // Code 3: a block but no image grid at all (grid index 0 of 0).
  // CHECK: [3,  0,  0,  0]
  %noimg = arith.constant dense<0> : tensor<0x3xi64>
  %p4, %d4, %n4, %s4 = mrope.rope_index %ids0 images(%noimg : tensor<0x3xi64>) design <mrope> : tensor<1x8xi64> -> tensor<3x1x8xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  call @status(%s4) : (tensor<4xi64>) -> ()

  // Code 4: a zero grid size (w = 0).
  // CHECK: [4,  0,  0,  0]
  %img5 = arith.constant dense<[[1, 4, 0]]> : tensor<1x3xi64>
  %p5, %d5, %n5, %s5 = mrope.rope_index %ids0 images(%img5 : tensor<1x3xi64>) design <mrope> : tensor<1x8xi64> -> tensor<3x1x8xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  call @status(%s5) : (tensor<4xi64>) -> ()

  // Code 5: h = 5 is not divisible by the spatial merge size 2.
  // CHECK: [5,  0,  0,  5]
  %img6 = arith.constant dense<[[1, 5, 4]]> : tensor<1x3xi64>
  %p6, %d6, %n6, %s6 = mrope.rope_index %ids0 images(%img6 : tensor<1x3xi64>) design <mrope> : tensor<1x8xi64> -> tensor<3x1x8xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  call @status(%s6) : (tensor<4xi64>) -> ()

  // Code 6: absolute time with an absurd second_per_grid overflows 2^53.
  // CHECK: [6,  0,  0,
  %ids7 = arith.constant dense<[[151652, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151656, 151653]]> : tensor<1x10xi64>
  %vid7 = arith.constant dense<[[2, 4, 4]]> : tensor<1x3xi64>
  %spg7 = arith.constant dense<[1.0e+18]> : tensor<1xf32>
  %p7, %d7, %n7, %s7 = mrope.rope_index %ids7 videos(%vid7 : tensor<1x3xi64>) second_per_grid(%spg7 : tensor<1xf32>) design <absolute_time> : tensor<1x10xi64> -> tensor<3x1x10xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  call @status(%s7) : (tensor<4xi64>) -> ()

  // Code 7: a row whose attention_mask is all 0.
  // CHECK: [7,  1,  -1,  0]
  %mask8 = arith.constant dense<[[1, 1], [0, 0]]> : tensor<2x2xi64>
  %ids8 = arith.constant dense<[[5, 6], [7, 8]]> : tensor<2x2xi64>
  %p8, %d8, %n8, %s8 = mrope.rope_index %ids8 mask(%mask8 : tensor<2x2xi64>) design <mrope> : tensor<2x2xi64> -> tensor<3x2x2xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  call @status(%s8) : (tensor<4xi64>) -> ()
  return
}
