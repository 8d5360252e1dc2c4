// One batched decode step of a serving engine on Qwen2-VL-7B's attention
// (28 query / 4 KV heads): 8 sequences, one new token each, rotated by its
// MRoPE position (contiguous sections t/h/w = 16/24/24 pairs), against a
// paged KV cache as vLLM keeps it -- a pool of 2048 pages of 16 keys
// ([pages, 16, 4, 128] with its first two dimensions merged), a block table
// of up to 256 pages (4096 keys) per sequence, and each sequence's cached
// keys counted by kv_cu_seqlens. The cached keys were rotated when they were
// written, so only q is rotated here.
//
//   mrope-opt --mrope-cpu-pipeline docs/examples/qwen2vl_paged_decode.mlir
//   mrope-opt '--mrope-gpu-pipeline=format=isa' docs/examples/qwen2vl_paged_decode.mlir
module {
  func.func @decode_step(%arg0: tensor<8x28x128xbf16>, %arg1: tensor<32768x4x128xbf16>, %arg2: tensor<32768x4x128xbf16>, %arg3: tensor<9xi32>, %arg4: tensor<9xi32>, %arg5: tensor<8x256xi32>, %arg6: tensor<3x8xi64>) -> tensor<8x28x128xbf16> {
    %0 = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
    %1 = mrope.attention %arg0, %arg1, %arg2 cu_seqlens(%arg3 : tensor<9xi32>) kv_cu_seqlens(%arg4 : tensor<9xi32>) block_table(%arg5 : tensor<8x256xi32>) page_size 16 q_positions(%arg6 : tensor<3x8xi64>) freqs(%0 : tensor<64xf32>) layout thd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> causal : tensor<8x28x128xbf16>, tensor<32768x4x128xbf16>, tensor<32768x4x128xbf16> -> tensor<8x28x128xbf16>
    return %1 : tensor<8x28x128xbf16>
  }
}

