//===- MRopeInterfaces.td - mrope op interfaces -------------*- tablegen -*-===//

#ifndef MROPE_INTERFACES_TD
#define MROPE_INTERFACES_TD

include "mlir/IR/OpBase.td"

def MRope_RotaryOpInterface : OpInterface<"RotaryOpInterface"> {
  let cppNamespace = "::mlir::mrope";
  let description = [{
    Implemented by every op that rotates by multimodal positions
    (`mrope.apply`, `mrope.cos_sin`, `mrope.attention` with a rotary
    prologue), so passes that specialize or inspect the rotary configuration
    handle them uniformly.
  }];
  let methods = [
    InterfaceMethod<"The rotary configuration, or null when the op does not "
                    "rotate (attention without a prologue).",
                    "::mlir::mrope::RotaryAttr", "getRotaryConfig">,
    InterfaceMethod<"The number of KV heads, or ShapedType::kDynamic.",
                    "int64_t", "getNumKVHeads">
  ];
}

#endif // MROPE_INTERFACES_TD
