// RUN: mrope-opt %s --mrope-bf16-memory-as-i16 | FileCheck %s

// bf16 loads and stores (scalars and vectors) become i16 accesses with a
// bitcast; their attributes stay; other types are left alone.
// CHECK-LABEL: llvm.func @copy
// CHECK-SAME: (%[[SRC:.+]]: !llvm.ptr, %[[DST:.+]]: !llvm.ptr)
// CHECK: %[[BITS:.+]] = llvm.load %[[SRC]] {alignment = 2 : i64} : !llvm.ptr -> vector<16xi16>
// CHECK: %[[ROW:.+]] = llvm.bitcast %[[BITS]] : vector<16xi16> to vector<16xbf16>
// CHECK: %[[OUT:.+]] = llvm.bitcast %[[ROW]] : vector<16xbf16> to vector<16xi16>
// CHECK: llvm.store %[[OUT]], %[[DST]] {alignment = 2 : i64, nontemporal} : vector<16xi16>, !llvm.ptr
// CHECK: %[[ONE:.+]] = llvm.load volatile %[[SRC]] : !llvm.ptr -> i16
// CHECK: %[[SCALAR:.+]] = llvm.bitcast %[[ONE]] : i16 to bf16
// CHECK: %[[BACK:.+]] = llvm.bitcast %[[SCALAR]] : bf16 to i16
// CHECK: llvm.store %[[BACK]], %[[DST]] : i16, !llvm.ptr
// CHECK: %[[F:.+]] = llvm.load %[[SRC]] : !llvm.ptr -> vector<8xf32>
// CHECK: llvm.store %[[F]], %[[DST]] : vector<8xf32>, !llvm.ptr
// CHECK: %[[H:.+]] = llvm.load %[[SRC]] : !llvm.ptr -> vector<8xf16>
// CHECK: llvm.store %[[H]], %[[DST]] : vector<8xf16>, !llvm.ptr
llvm.func @copy(%src: !llvm.ptr, %dst: !llvm.ptr) {
  %row = llvm.load %src {alignment = 2 : i64} : !llvm.ptr -> vector<16xbf16>
  llvm.store %row, %dst {alignment = 2 : i64, nontemporal} : vector<16xbf16>, !llvm.ptr
  %one = llvm.load volatile %src : !llvm.ptr -> bf16
  llvm.store %one, %dst : bf16, !llvm.ptr
  %f = llvm.load %src : !llvm.ptr -> vector<8xf32>
  llvm.store %f, %dst : vector<8xf32>, !llvm.ptr
  %h = llvm.load %src : !llvm.ptr -> vector<8xf16>
  llvm.store %h, %dst : vector<8xf16>, !llvm.ptr
  llvm.return
}
