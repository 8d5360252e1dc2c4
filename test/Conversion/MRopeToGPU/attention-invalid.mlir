// RUN: mrope-opt %s -split-input-file --convert-mrope-to-gpu -verify-diagnostics

// What the GPU attention kernel rejects, with the reason.

func.func @head_dim(%q: tensor<1x2x8x24xbf16>, %k: tensor<1x2x8x24xbf16>, %v: tensor<1x2x8x24xbf16>) -> tensor<1x2x8x24xbf16> {
  // expected-error @+1 {{the GPU attention kernel needs a q/k head_dim that is a multiple of 16 and at most 128, got 24}}
  %0 = mrope.attention %q, %k, %v layout bhsd
      : tensor<1x2x8x24xbf16>, tensor<1x2x8x24xbf16>, tensor<1x2x8x24xbf16> -> tensor<1x2x8x24xbf16>
  return %0 : tensor<1x2x8x24xbf16>
}

// -----

func.func @value_dim(%q: tensor<1x2x8x64xbf16>, %k: tensor<1x2x8x64xbf16>, %v: tensor<1x2x8x256xbf16>) -> tensor<1x2x8x256xbf16> {
  // expected-error @+1 {{the GPU attention kernel needs a v head_dim that is a multiple of 16 and at most 128, got 256}}
  %0 = mrope.attention %q, %k, %v layout bhsd
      : tensor<1x2x8x64xbf16>, tensor<1x2x8x64xbf16>, tensor<1x2x8x256xbf16> -> tensor<1x2x8x256xbf16>
  return %0 : tensor<1x2x8x256xbf16>
}

// -----

// NeoX pairs (j, j + rotary_dim / 2) must share a thread's channel slots.
func.func @rotary_dim(%q: tensor<1x2x8x64xbf16>, %k: tensor<1x2x8x64xbf16>, %v: tensor<1x2x8x64xbf16>,
                      %pos: tensor<3x1x8xi64>, %f: tensor<24xf32>) -> tensor<1x2x8x64xbf16> {
  // expected-error @+1 {{the GPU attention kernel rotates queries in registers and needs rotary_dim to be a multiple of 32 for neox pairs, got 48}}
  %0 = mrope.attention %q, %k, %v q_positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<24xf32>) layout bhsd
      rotary <alloc = <contiguous, section = [8, 8, 8]>, rotary_dim = 48>
      : tensor<1x2x8x64xbf16>, tensor<1x2x8x64xbf16>, tensor<1x2x8x64xbf16> -> tensor<1x2x8x64xbf16>
  return %0 : tensor<1x2x8x64xbf16>
}

// -----

func.func @dynamic(%q: tensor<1x2x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>) -> tensor<1x2x?x64xbf16> {
  // expected-error @+1 {{the GPU lowering needs static shapes (operand 'tensor<1x2x?x64xbf16>')}}
  %0 = mrope.attention %q, %k, %v layout bhsd
      : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x2x?x64xbf16>
  return %0 : tensor<1x2x?x64xbf16>
}
