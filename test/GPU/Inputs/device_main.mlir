// A host program for the GPU pipeline: device buffers from gpu.alloc, the
// rotation called on them, the result copied back and its first row
// printed. Used by runtime-no-driver.test (no GPU) and run.test (GPU).
func.func private @printMemrefF32(memref<*xf32>)

func.func @rotary(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %pos: tensor<3x1x4xi64>)
    -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  %f = mrope.inv_freq theta = 1.0e4 : tensor<4xf32>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<4xf32>) layout bhsd
      rotary <alloc = <contiguous, section = [2, 1, 1]>, rotary_dim = 8> : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return %q1, %k1 : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}

func.func @main() {
  %one = arith.constant 1.0 : f32
  %hq = memref.alloc() : memref<1x2x4x8xf32>
  linalg.fill ins(%one : f32) outs(%hq : memref<1x2x4x8xf32>)
  %hp = memref.alloc() : memref<3x1x4xi64>
  %three = arith.constant 3 : i64
  linalg.fill ins(%three : i64) outs(%hp : memref<3x1x4xi64>)
  %t0 = gpu.wait async
  %q, %t1 = gpu.alloc async [%t0] () : memref<1x2x4x8xf32>
  %k, %t2 = gpu.alloc async [%t1] () : memref<1x2x4x8xf32>
  %p, %t3 = gpu.alloc async [%t2] () : memref<3x1x4xi64>
  %t4 = gpu.memcpy async [%t3] %q, %hq : memref<1x2x4x8xf32>, memref<1x2x4x8xf32>
  %t5 = gpu.memcpy async [%t4] %k, %hq : memref<1x2x4x8xf32>, memref<1x2x4x8xf32>
  %t6 = gpu.memcpy async [%t5] %p, %hp : memref<3x1x4xi64>, memref<3x1x4xi64>
  gpu.wait [%t6]
  %tq = bufferization.to_tensor %q restrict writable : memref<1x2x4x8xf32> to tensor<1x2x4x8xf32>
  %tk = bufferization.to_tensor %k restrict writable : memref<1x2x4x8xf32> to tensor<1x2x4x8xf32>
  %tp = bufferization.to_tensor %p restrict : memref<3x1x4xi64> to tensor<3x1x4xi64>
  %r:2 = call @rotary(%tq, %tk, %tp) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<3x1x4xi64>)
      -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>)
  %rq = bufferization.to_buffer %r#0 : tensor<1x2x4x8xf32> to memref<1x2x4x8xf32>
  %t7 = gpu.wait async
  %t8 = gpu.memcpy async [%t7] %hq, %rq : memref<1x2x4x8xf32>, memref<1x2x4x8xf32>
  gpu.wait [%t8]
  %row = memref.subview %hq[0, 0, 0, 0] [1, 1, 1, 8] [1, 1, 1, 1]
      : memref<1x2x4x8xf32> to memref<1x1x1x8xf32, strided<[64, 32, 8, 1]>>
  %u = memref.cast %row : memref<1x1x1x8xf32, strided<[64, 32, 8, 1]>> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}
