// RUN: mrope-opt %s --mrope-x86-pack-bf16-conversions | FileCheck %s

// Two 512-bit conversions concatenated become one two-source conversion:
// the shuffle's first operand gives the low words, so its input is the
// intrinsic's second operand.
// CHECK-LABEL: llvm.func @pack512
// CHECK-SAME: (%[[LO:.+]]: vector<16xf32>, %[[HI:.+]]: vector<16xf32>)
// CHECK-NEXT: %[[P:.+]] = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtne2ps2bf16.512"(%[[HI]], %[[LO]]) : (vector<16xf32>, vector<16xf32>) -> vector<32xbf16>
// CHECK-NEXT: llvm.return %[[P]]
llvm.func @pack512(%lo: vector<16xf32>, %hi: vector<16xf32>) -> vector<32xbf16> {
  %0 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.512"(%lo) : (vector<16xf32>) -> vector<16xbf16>
  %1 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.512"(%hi) : (vector<16xf32>) -> vector<16xbf16>
  %2 = llvm.shufflevector %0, %1 [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31] : vector<16xbf16>
  llvm.return %2 : vector<32xbf16>
}

// 256-bit inputs likewise; a conversion with another use stays for it.
// CHECK-LABEL: llvm.func @pack256_shared
// CHECK-SAME: (%[[A:.+]]: vector<8xf32>, %[[B:.+]]: vector<8xf32>, %[[OUT:.+]]: !llvm.ptr)
// CHECK-NEXT: %[[ONE:.+]] = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.256"(%[[A]])
// CHECK-NEXT: %[[P:.+]] = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtne2ps2bf16.256"(%[[B]], %[[A]]) : (vector<8xf32>, vector<8xf32>) -> vector<16xbf16>
// CHECK-NEXT: llvm.store %[[ONE]], %[[OUT]]
// CHECK-NEXT: llvm.return %[[P]]
llvm.func @pack256_shared(%a: vector<8xf32>, %b: vector<8xf32>, %out: !llvm.ptr) -> vector<16xbf16> {
  %0 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.256"(%a) : (vector<8xf32>) -> vector<8xbf16>
  %1 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.256"(%b) : (vector<8xf32>) -> vector<8xbf16>
  %2 = llvm.shufflevector %0, %1 [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : vector<8xbf16>
  llvm.store %0, %out : vector<8xbf16>, !llvm.ptr
  llvm.return %2 : vector<16xbf16>
}

// Not fused: a mask other than the concatenation, an operand that is not a
// conversion, neither operand a conversion.
// CHECK-LABEL: llvm.func @left_alone
// CHECK-NOT: cvtne2ps2bf16
// CHECK: llvm.shufflevector %{{.+}}, %{{.+}} [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]
// CHECK-NOT: cvtne2ps2bf16
// CHECK: llvm.shufflevector
// CHECK-NOT: cvtne2ps2bf16
// CHECK: llvm.shufflevector
// CHECK-NOT: cvtne2ps2bf16
llvm.func @left_alone(%a: vector<8xf32>, %b: vector<8xf32>, %e: vector<8xbf16>, %d: vector<16xi16>, %out: !llvm.ptr) {
  %0 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.256"(%a) : (vector<8xf32>) -> vector<8xbf16>
  %1 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.256"(%b) : (vector<8xf32>) -> vector<8xbf16>
  %2 = llvm.shufflevector %0, %1 [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7] : vector<8xbf16>
  %4 = llvm.shufflevector %0, %e [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : vector<8xbf16>
  %5 = llvm.shufflevector %d, %d [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31] : vector<16xi16>
  llvm.store %2, %out : vector<16xbf16>, !llvm.ptr
  llvm.store %4, %out : vector<16xbf16>, !llvm.ptr
  llvm.store %5, %out : vector<32xi16>, !llvm.ptr
  llvm.return
}

// One conversion as both operands (and of two shuffles): fused each time,
// erased once.
// CHECK-LABEL: llvm.func @same_conversion_twice
// CHECK-SAME: (%[[A:.+]]: vector<8xf32>, %[[OUT:.+]]: !llvm.ptr)
// CHECK-NEXT: %[[P:.+]] = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtne2ps2bf16.256"(%[[A]], %[[A]])
// CHECK-NEXT: %[[Q:.+]] = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtne2ps2bf16.256"(%[[A]], %[[A]])
// CHECK-NEXT: llvm.store %[[Q]], %[[OUT]]
// CHECK-NEXT: llvm.return %[[P]]
llvm.func @same_conversion_twice(%a: vector<8xf32>, %out: !llvm.ptr) -> vector<16xbf16> {
  %0 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.256"(%a) : (vector<8xf32>) -> vector<8xbf16>
  %1 = llvm.shufflevector %0, %0 [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : vector<8xbf16>
  %2 = llvm.shufflevector %0, %0 [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : vector<8xbf16>
  llvm.store %2, %out : vector<16xbf16>, !llvm.ptr
  llvm.return %1 : vector<16xbf16>
}
