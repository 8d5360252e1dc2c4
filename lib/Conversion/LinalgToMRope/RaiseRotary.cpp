//===- RaiseRotary.cpp - linalg rotary -> mrope.apply / mrope.rotate ------===//
//
// Frontends (Torch-MLIR, hand-written linalg) spell the same rotary in many
// ways: rotate_half as slice + negate + concat, cos/sin tables built by a
// section split/cat or by an in-place strided assignment that Torch-MLIR
// imports as a select on an index comparison, broadcasts as expand_shape +
// linalg.generic, fused or unfused generics. Matching op shapes would need
// one pattern per spelling. Instead every element of a candidate tensor is
// evaluated symbolically (TermBuilder) down to elements of tensors the
// analysis does not look into, and the candidate is raised only if every
// element has the rotary form
//
//   out[..c] = x[..c] * cos[c] + (+-x[..partner(c)]) * sin[c]
//
// with one consistent pair layout, layout, allocation and frequency per
// channel. Indices are affine expressions in the candidate's batch, head and
// token dimensions with the channel constant, so each channel is evaluated
// once: exact for every element, at a cost independent of the sizes.
//
//===----------------------------------------------------------------------===//

#include "mrope/Conversion/Passes.h"
#include "mrope/Dialect/MRope/IR/MRopeOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

#include <deque>
#include <optional>

namespace mlir::mrope {
#define GEN_PASS_DEF_RAISELINALGROTARY
#include "mrope/Conversion/Passes.h.inc"
} // namespace mlir::mrope

using namespace mlir;
using namespace mlir::mrope;

namespace {

//===----------------------------------------------------------------------===//
// Symbolic element evaluation
//===----------------------------------------------------------------------===//

/// An index into a tensor: one affine expression per dimension, over the
/// candidate's non-channel dimensions (d0, d1, ...). The channel is always a
/// constant, so a candidate is evaluated once per channel, whatever its
/// batch, head and token counts.
using Index = SmallVector<AffineExpr, 4>;

/// What the elements of a tensor at a symbolic index are: a constant, an
/// element of a tensor the analysis does not look into (a leaf), or a scalar
/// op applied to terms.
struct Term {
  enum class Kind { Constant, Element, Op };
  explicit Term(Kind kind) : kind(kind) {}
  Kind kind;
  // Constant: the value (floats in `f`, integers, indices and i1 in `i`).
  double f = 0;
  int64_t i = 0;
  // Element: the tensor and the index into it (empty for a scalar).
  Value tensor;
  Index index;
  // Op: the scalar op's name and result type, and its operand terms.
  StringRef name;
  Type type;
  SmallVector<const Term *, 2> operands;

  bool isOp(StringRef opName) const {
    return kind == Kind::Op && name == opName;
  }
};

/// Static shape of `v`, or nullopt.
std::optional<ArrayRef<int64_t>> staticShape(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.hasStaticShape())
    return std::nullopt;
  return type.getShape();
}

bool allStatic(ArrayRef<int64_t> values) {
  return llvm::none_of(values, ShapedType::isDynamic);
}

std::optional<int64_t> constantOf(AffineExpr e) {
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return c.getValue();
  return std::nullopt;
}

/// Builds terms. Index expressions are kept simple with the ranges of the
/// candidate's dimensions (every index of valid IR is in bounds), which is
/// what reshapes of unit dimensions need: (d2 * 8 + d3) with d2 in [0, 1)
/// is d3, d3 mod 8 with d3 in [0, 8) is d3.
class TermBuilder {
public:
  TermBuilder(MLIRContext *ctx, ArrayRef<int64_t> dimSizes, int64_t budget)
      : ctx(ctx), dimSizes(dimSizes), budget(budget) {}

  /// The term of `tensor[index]`, or null when the budget is exhausted.
  const Term *element(Value tensor, Index index) {
    if (--budget < 0)
      return nullptr;
    if (!followViews(tensor, index))
      return leaf(tensor, index);
    return compute(tensor, index);
  }

  /// `e` simplified with the dimension ranges.
  AffineExpr tidy(AffineExpr e);

private:
  MLIRContext *ctx;
  ArrayRef<int64_t> dimSizes;
  int64_t budget;
  std::deque<Term> arena;

  const Term *make(Term term) {
    arena.push_back(std::move(term));
    return &arena.back();
  }
  const Term *leaf(Value tensor, ArrayRef<AffineExpr> index) {
    Term t(Term::Kind::Element);
    t.tensor = tensor;
    t.index.assign(index.begin(), index.end());
    return make(std::move(t));
  }
  const Term *intConstant(int64_t value) {
    Term t(Term::Kind::Constant);
    t.i = value;
    return make(std::move(t));
  }
  const Term *floatConstant(double value) {
    Term t(Term::Kind::Constant);
    t.f = value;
    return make(std::move(t));
  }
  const Term *constantTerm(Attribute attr) {
    if (auto f = dyn_cast<FloatAttr>(attr))
      return floatConstant(f.getValueAsDouble());
    if (auto i = dyn_cast<IntegerAttr>(attr))
      return intConstant(i.getValue().getSExtValue());
    if (auto splat = dyn_cast<SplatElementsAttr>(attr))
      return constantTerm(splat.getSplatValue<Attribute>());
    return nullptr;
  }
  AffineExpr constant(int64_t v) { return getAffineConstantExpr(v, ctx); }

  /// [lo, hi] of `e` over the dimension ranges, when known.
  std::optional<std::pair<int64_t, int64_t>> bounds(AffineExpr e);
  /// Moves (tensor, index) back through ops that only move data; false when
  /// the index cannot be followed symbolically.
  bool followViews(Value &tensor, Index &index);
  /// The term of an element of a tensor that is not a view.
  const Term *compute(Value tensor, ArrayRef<AffineExpr> index);
  /// The term of scalar `v` in the body of `generic` at loop point `loop`.
  const Term *scalar(Value v, linalg::GenericOp generic,
                     ArrayRef<AffineExpr> loop);
};

std::optional<std::pair<int64_t, int64_t>> TermBuilder::bounds(AffineExpr e) {
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return std::make_pair(c.getValue(), c.getValue());
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return std::make_pair<int64_t, int64_t>(0, dimSizes[d.getPosition()] - 1);
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return std::nullopt;
  auto l = bounds(bin.getLHS()), r = bounds(bin.getRHS());
  if (!l || !r)
    return std::nullopt;
  switch (e.getKind()) {
  case AffineExprKind::Add:
    return std::make_pair(l->first + r->first, l->second + r->second);
  case AffineExprKind::Mul: {
    int64_t c[] = {l->first * r->first, l->first * r->second,
                   l->second * r->first, l->second * r->second};
    return std::make_pair(*std::min_element(c, c + 4),
                          *std::max_element(c, c + 4));
  }
  case AffineExprKind::FloorDiv:
  case AffineExprKind::Mod:
    if (r->first != r->second || r->first <= 0 || l->first < 0)
      return std::nullopt;
    if (e.getKind() == AffineExprKind::FloorDiv)
      return std::make_pair(l->first / r->first, l->second / r->first);
    return std::make_pair<int64_t, int64_t>(0, r->first - 1);
  default:
    return std::nullopt;
  }
}

AffineExpr TermBuilder::tidy(AffineExpr e) {
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return e;
  AffineExpr lhs = tidy(bin.getLHS()), rhs = tidy(bin.getRHS());
  switch (e.getKind()) {
  case AffineExprKind::Add:
    return lhs + rhs;
  case AffineExprKind::Mul:
    return lhs * rhs;
  case AffineExprKind::FloorDiv:
  case AffineExprKind::Mod: {
    std::optional<int64_t> k = constantOf(rhs);
    auto range = bounds(lhs);
    if (k && *k > 0 && range && range->first >= 0 && range->second < *k)
      return e.getKind() == AffineExprKind::Mod ? lhs : constant(0);
    return e.getKind() == AffineExprKind::Mod ? lhs % rhs : lhs.floorDiv(rhs);
  }
  default:
    return e;
  }
}

bool TermBuilder::followViews(Value &tensor, Index &index) {
  while (Operation *op = tensor.getDefiningOp()) {
    if (!staticShape(tensor))
      return false;
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
      if (!allStatic(slice.getStaticOffsets()) ||
          !allStatic(slice.getStaticStrides()))
        return false;
      llvm::SmallBitVector dropped = slice.getDroppedDims();
      Index source;
      unsigned k = 0;
      for (auto [d, offset] : llvm::enumerate(slice.getStaticOffsets()))
        source.push_back(dropped.test(d)
                             ? constant(offset)
                             : tidy(constant(offset) +
                                    index[k++] * slice.getStaticStrides()[d]));
      tensor = slice.getSource();
      index = std::move(source);
      continue;
    }
    if (auto insert = dyn_cast<tensor::InsertSliceOp>(op)) {
      if (!allStatic(insert.getStaticOffsets()) ||
          !allStatic(insert.getStaticStrides()) ||
          !allStatic(insert.getStaticSizes()) ||
          insert.getSourceType().getRank() != insert.getDestType().getRank())
        return false;
      // Inside the inserted slice or not, decided per dimension: by value
      // for constant indices; a symbolic index must span a whole dimension.
      ArrayRef<int64_t> destShape = insert.getDestType().getShape();
      bool inside = true;
      Index source;
      for (auto [d, e] : llvm::enumerate(index)) {
        int64_t offset = insert.getStaticOffsets()[d];
        int64_t stride = insert.getStaticStrides()[d];
        int64_t size = insert.getStaticSizes()[d];
        if (std::optional<int64_t> c = constantOf(e)) {
          int64_t rel = *c - offset;
          if (rel < 0 || rel % stride || rel / stride >= size) {
            inside = false;
            break;
          }
          source.push_back(constant(rel / stride));
        } else if (offset == 0 && stride == 1 && size == destShape[d]) {
          source.push_back(e);
        } else {
          return false;
        }
      }
      if (inside) {
        tensor = insert.getSource();
        index = std::move(source);
      } else {
        tensor = insert.getDest();
      }
      continue;
    }
    if (auto concat = dyn_cast<tensor::ConcatOp>(op)) {
      int64_t dim = concat.getDim();
      std::optional<int64_t> at = constantOf(index[dim]);
      if (!at)
        return false;
      Value part;
      for (Value input : concat.getInputs()) {
        std::optional<ArrayRef<int64_t>> shape = staticShape(input);
        if (!shape)
          return false;
        if (*at < (*shape)[dim]) {
          part = input;
          break;
        }
        *at -= (*shape)[dim];
      }
      index[dim] = constant(*at);
      tensor = part;
      continue;
    }
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op)) {
      ArrayRef<int64_t> shape = expand.getResultType().getShape();
      Index source;
      for (ReassociationIndices group : expand.getReassociationIndices()) {
        AffineExpr linear = constant(0);
        for (int64_t d : group)
          linear = linear * shape[d] + index[d];
        source.push_back(tidy(linear));
      }
      tensor = expand.getSrc();
      index = std::move(source);
      continue;
    }
    if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op)) {
      std::optional<ArrayRef<int64_t>> shape = staticShape(collapse.getSrc());
      if (!shape)
        return false;
      Index source(shape->size());
      for (auto [g, group] :
           llvm::enumerate(collapse.getReassociationIndices())) {
        AffineExpr linear = index[g];
        for (int64_t d : llvm::reverse(group)) {
          source[d] = tidy(linear % (*shape)[d]);
          linear = tidy(linear.floorDiv((*shape)[d]));
        }
      }
      tensor = collapse.getSrc();
      index = std::move(source);
      continue;
    }
    if (auto transpose = dyn_cast<linalg::TransposeOp>(op)) {
      Index source(index.size());
      for (auto [i, p] : llvm::enumerate(transpose.getPermutation()))
        source[p] = index[i];
      tensor = transpose.getInput();
      index = std::move(source);
      continue;
    }
    if (auto broadcast = dyn_cast<linalg::BroadcastOp>(op)) {
      Index source;
      for (auto [d, e] : llvm::enumerate(index))
        if (!llvm::is_contained(broadcast.getDimensions(), (int64_t)d))
          source.push_back(e);
      tensor = broadcast.getInput();
      index = std::move(source);
      continue;
    }
    if (auto cast = dyn_cast<tensor::CastOp>(op)) {
      tensor = cast.getSource();
      continue;
    }
    return true;
  }
  return true;
}

const Term *TermBuilder::compute(Value tensor, ArrayRef<AffineExpr> index) {
  Operation *op = tensor.getDefiningOp();
  if (!op)
    return leaf(tensor, index);
  Attribute value;
  if (matchPattern(tensor, m_Constant(&value)))
    if (const Term *t = constantTerm(value))
      return t;
  if (auto fill = dyn_cast<linalg::FillOp>(op)) {
    if (matchPattern(fill.getInputs()[0], m_Constant(&value)))
      if (const Term *t = constantTerm(value))
        return t;
    return leaf(tensor, index);
  }
  if (auto generic = dyn_cast<linalg::GenericOp>(op)) {
    // The loop point of an element: the result map inverted. Loops the
    // result does not index must be single-iteration reductions (a fused
    // K=1 matmul), which run at 0.
    unsigned result = cast<OpResult>(tensor).getResultNumber();
    AffineMap outMap =
        generic.getIndexingMapMatchingResult(cast<OpResult>(tensor));
    if (!outMap.isProjectedPermutation())
      return leaf(tensor, index);
    SmallVector<int64_t, 4> ranges = generic.getStaticLoopRanges();
    SmallVector<AffineExpr, 4> loop(outMap.getNumDims());
    for (auto [i, expr] : llvm::enumerate(outMap.getResults()))
      loop[cast<AffineDimExpr>(expr).getPosition()] = index[i];
    for (auto [d, iterator] :
         llvm::enumerate(generic.getIteratorTypesArray())) {
      if (!loop[d]) {
        if (iterator != utils::IteratorType::reduction || ranges[d] != 1)
          return leaf(tensor, index);
        loop[d] = constant(0);
      } else if (iterator != utils::IteratorType::parallel) {
        return leaf(tensor, index);
      }
    }
    Operation *yield = generic.getBody()->getTerminator();
    return scalar(yield->getOperand(result), generic, loop);
  }
  if (isa<linalg::BatchMatmulOp, linalg::MatmulOp>(op)) {
    // A matmul with contraction size 1 (torch's inv_freq @ positions) is an
    // elementwise product; accumulating into a zero fill is exact.
    auto contraction = cast<linalg::LinalgOp>(op);
    if (!contraction.hasPureTensorSemantics() ||
        contraction.hasUserDefinedMaps())
      return leaf(tensor, index);
    Value a = contraction.getDpsInputs()[0], b = contraction.getDpsInputs()[1];
    std::optional<ArrayRef<int64_t>> aShape = staticShape(a);
    if (!aShape || aShape->back() != 1)
      return leaf(tensor, index);
    Index aIndex(index.begin(), index.end() - 1);
    aIndex.push_back(constant(0));
    Index bIndex(index.begin(), index.end() - 2);
    bIndex.push_back(constant(0));
    bIndex.push_back(index.back());
    const Term *lhs = element(a, aIndex);
    const Term *rhs = element(b, bIndex);
    const Term *init = element(contraction.getDpsInits()[0], Index(index));
    if (!lhs || !rhs || !init)
      return nullptr;
    Term product(Term::Kind::Op);
    product.name = "arith.mulf";
    product.type = getElementTypeOrSelf(tensor.getType());
    product.operands = {lhs, rhs};
    const Term *mul = make(std::move(product));
    if (init->kind == Term::Kind::Constant && init->f == 0.0)
      return mul;
    Term sum(Term::Kind::Op);
    sum.name = "arith.addf";
    sum.type = mul->type;
    sum.operands = {init, mul};
    return make(std::move(sum));
  }
  return leaf(tensor, index);
}

/// Integer folds for the index arithmetic Torch-MLIR emits around in-place
/// assignment (linalg.index, index_cast, cmpi, select).
std::optional<int64_t> foldInteger(Operation *op, ArrayRef<int64_t> v) {
  if (isa<arith::IndexCastOp, arith::ExtSIOp, arith::ExtUIOp, arith::TruncIOp>(
          op))
    return v[0];
  if (isa<arith::AddIOp>(op))
    return v[0] + v[1];
  if (isa<arith::SubIOp>(op))
    return v[0] - v[1];
  if (isa<arith::MulIOp>(op))
    return v[0] * v[1];
  if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
    switch (cmp.getPredicate()) {
    case arith::CmpIPredicate::eq:
      return v[0] == v[1];
    case arith::CmpIPredicate::ne:
      return v[0] != v[1];
    case arith::CmpIPredicate::slt:
      return v[0] < v[1];
    case arith::CmpIPredicate::sle:
      return v[0] <= v[1];
    case arith::CmpIPredicate::sgt:
      return v[0] > v[1];
    case arith::CmpIPredicate::sge:
      return v[0] >= v[1];
    default:
      return std::nullopt;
    }
  }
  return std::nullopt;
}

const Term *TermBuilder::scalar(Value v, linalg::GenericOp generic,
                                ArrayRef<AffineExpr> loop) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    if (arg.getOwner() != generic.getBody())
      return nullptr;
    OpOperand *operand = generic.getMatchingOpOperand(arg);
    if (!isa<RankedTensorType>(operand->get().getType()))
      return leaf(operand->get(), {});
    AffineMap map = generic.getMatchingIndexingMap(operand);
    Index index;
    for (AffineExpr expr : map.getResults())
      index.push_back(tidy(expr.replaceDims(loop)));
    return element(operand->get(), index);
  }
  Operation *op = v.getDefiningOp();
  Attribute value;
  if (matchPattern(v, m_Constant(&value)))
    if (const Term *t = constantTerm(value))
      return t;
  if (!generic->isProperAncestor(op))
    return leaf(v, {}); // a scalar from outside, not a constant
  if (auto index = dyn_cast<linalg::IndexOp>(op)) {
    // A loop index is a value only where the element's index fixes it.
    if (std::optional<int64_t> c = constantOf(loop[index.getDim()]))
      return intConstant(*c);
    return leaf(v, {});
  }
  if (auto select = dyn_cast<arith::SelectOp>(op)) {
    const Term *cond = scalar(select.getCondition(), generic, loop);
    if (!cond)
      return nullptr;
    if (cond->kind == Term::Kind::Constant)
      return scalar(cond->i ? select.getTrueValue() : select.getFalseValue(),
                    generic, loop);
  }
  if (op->getNumResults() != 1 || op->getNumRegions() != 0)
    return leaf(v, {});
  Term t(Term::Kind::Op);
  t.name = op->getName().getStringRef();
  t.type = v.getType();
  bool allConstant = true;
  SmallVector<int64_t> ints;
  for (Value operand : op->getOperands()) {
    const Term *o = scalar(operand, generic, loop);
    if (!o)
      return nullptr;
    allConstant &= o->kind == Term::Kind::Constant;
    ints.push_back(o->i);
    t.operands.push_back(o);
  }
  if (allConstant && !t.operands.empty() && !isa<FloatType>(t.type))
    if (std::optional<int64_t> folded = foldInteger(op, ints))
      return intConstant(*folded);
  // A constant converted between float types (Torch-MLIR writes Python
  // float scalars as f64 constants truncated to f32).
  if (allConstant && isa<arith::TruncFOp, arith::ExtFOp>(op))
    if (auto target = dyn_cast<FloatType>(t.type)) {
      APFloat value(t.operands[0]->f);
      bool lost = false;
      value.convert(target.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                    &lost);
      return floatConstant(value.convertToDouble());
    }
  // Accumulating into a zero (a single-iteration reduction) adds nothing
  // but the sign of a zero sum; angles are never -0 (positions are integers
  // or non-negative and inv_freq is positive).
  if (isa<arith::AddFOp>(op))
    for (int i = 0; i < 2; ++i)
      if (t.operands[i]->kind == Term::Kind::Constant &&
          t.operands[i]->f == 0.0)
        return t.operands[1 - i];
  return make(std::move(t));
}

//===----------------------------------------------------------------------===//
// The rotary form of one element
//===----------------------------------------------------------------------===//

/// An activation element: x[index], maybe negated.
struct ActivationRef {
  Value x;
  ArrayRef<AffineExpr> index;
  bool negated;
};

std::optional<ActivationRef> matchActivation(const Term *t) {
  bool negated = false;
  if (t->isOp("arith.negf")) {
    negated = true;
    t = t->operands[0];
  }
  if (t->kind != Term::Kind::Element || t->index.empty())
    return std::nullopt;
  return ActivationRef{t->tensor, t->index, negated};
}

/// A cos or sin table element: either computed here from an angle
/// `positions[axis, rest...] * inv_freq[pair]`, or read from a table tensor.
struct TableRef {
  // Computed form.
  bool computed = false;
  bool isSin = false;
  double scale = 1.0;
  Value positions, invFreq;
  ArrayRef<AffineExpr> positionIndex; // [axis, batch?, token]
  int64_t pair = 0;
  // Read form.
  Value table;
  ArrayRef<AffineExpr> tableIndex;
};

std::optional<TableRef> matchTable(const Term *t, Type activationType) {
  TableRef ref;
  if (t->kind == Term::Kind::Element) {
    if (t->index.empty() ||
        getElementTypeOrSelf(t->tensor.getType()) != activationType)
      return std::nullopt;
    ref.table = t->tensor;
    ref.tableIndex = t->index;
    return ref;
  }
  // cos/sin are f32 and rounded to a narrower activation type, as HF's
  // `cos.to(q.dtype)`.
  if (t->isOp("arith.truncf"))
    t = t->operands[0];
  if (!t->type || !t->type.isF32())
    return std::nullopt;
  if (t->isOp("arith.mulf")) {
    const Term *a = t->operands[0], *b = t->operands[1];
    if (a->kind == Term::Kind::Constant)
      std::swap(a, b);
    if (b->kind != Term::Kind::Constant)
      return std::nullopt;
    ref.scale = b->f;
    t = a;
  }
  if (!t->isOp("math.cos") && !t->isOp("math.sin"))
    return std::nullopt;
  ref.isSin = t->isOp("math.sin");
  const Term *angle = t->operands[0];
  if (!angle->isOp("arith.mulf"))
    return std::nullopt;
  for (int order = 0; order < 2; ++order) {
    const Term *pos = angle->operands[order],
               *freq = angle->operands[1 - order];
    if (pos->isOp("arith.sitofp"))
      pos = pos->operands[0];
    if (pos->kind != Term::Kind::Element || freq->kind != Term::Kind::Element)
      continue;
    auto freqType = cast<RankedTensorType>(freq->tensor.getType());
    auto posType = cast<RankedTensorType>(pos->tensor.getType());
    if (freqType.getRank() != 1 || !freqType.getElementType().isF32() ||
        posType.getRank() < 2 || posType.getDimSize(0) != 3)
      continue;
    std::optional<int64_t> pair = constantOf(freq->index[0]);
    if (!pair)
      continue;
    ref.pair = *pair;
    ref.computed = true;
    ref.positions = pos->tensor;
    ref.positionIndex = pos->index;
    ref.invFreq = freq->tensor;
    return ref;
  }
  return std::nullopt;
}

/// One rotated element: out[index] = x[index] * cos + (+-x[partner]) * sin.
struct RotatedElement {
  ActivationRef direct, rotated;
  TableRef cos, sin;
};

std::optional<RotatedElement> matchRotated(const Term *t, Type rootType) {
  Type activationType = getElementTypeOrSelf(rootType);
  if (!t->isOp("arith.addf"))
    return std::nullopt;
  struct Product {
    ActivationRef x;
    TableRef table;
  };
  SmallVector<Product, 2> products;
  for (const Term *p : t->operands) {
    if (!p->isOp("arith.mulf"))
      return std::nullopt;
    std::optional<Product> found;
    for (int order = 0; order < 2 && !found; ++order) {
      std::optional<ActivationRef> x = matchActivation(p->operands[order]);
      std::optional<TableRef> table =
          matchTable(p->operands[1 - order], activationType);
      if (x && table && x->x.getType() == rootType)
        found = Product{*x, *table};
    }
    if (!found)
      return std::nullopt;
    products.push_back(*found);
  }
  return RotatedElement{products[0].x, products[1].x, products[0].table,
                        products[1].table};
}

//===----------------------------------------------------------------------===//
// Whole-tensor recognition
//===----------------------------------------------------------------------===//

/// What a recognized candidate is.
struct Recognized {
  Value root, x;
  /// root's defining op, kept to check whether it was erased without
  /// touching the (then dangling) value.
  Operation *rootOp = nullptr;
  TensorLayout layout = TensorLayout::BHSD;
  PairLayout pairs = PairLayout::NeoX;
  int64_t rotaryDim = 0;
  SmallVector<Axis> pairAxes; // per pair; empty when tables have no axis row
  // Computed form.
  bool computed = false;
  Value positions, invFreq;
  double scale = 1.0;
  // Read form.
  Value cos, sin;
};

/// What each channel of a candidate is.
struct ChannelFacts {
  bool rotated = false;
  int64_t partner = -1;
  bool negated = false;
  int64_t axis = -1; // table row (computed: the positions row)
  int64_t pair = -1; // computed: the inv_freq entry
};

/// The allocation whose pair map is `axes`: the named kinds first, so IR
/// keeps its meaning (contiguous sections, interleaving), else explicit.
AllocationAttr inferAllocation(MLIRContext *ctx, ArrayRef<Axis> axes) {
  int64_t n = axes.size();
  SmallVector<int64_t> counts(3, 0);
  for (Axis a : axes)
    ++counts[static_cast<int>(a)];
  ScopedDiagnosticHandler silence(ctx, [](Diagnostic &) { return success(); });
  auto fits = [&](AllocationAttr alloc) {
    auto diagnose = [&] { return mlir::emitError(UnknownLoc::get(ctx)); };
    return succeeded(alloc.verifyPairCount(n, diagnose)) &&
           llvm::equal(alloc.getPairAxes(n), axes);
  };
  SmallVector<AllocationAttr> candidates = {
      AllocationAttr::get(ctx, AllocationKind::Vanilla, {}, ""),
      AllocationAttr::get(ctx, AllocationKind::Contiguous, counts, ""),
      AllocationAttr::get(ctx, AllocationKind::Interleaved, counts, "")};
  for (AllocationAttr alloc : candidates)
    if (fits(alloc))
      return alloc;
  std::string map;
  for (Axis a : axes)
    map += "THW"[static_cast<int>(a)];
  return AllocationAttr::get(ctx, AllocationKind::Explicit, {}, map);
}

/// Recognizes `root` as a rotation, evaluating each channel once with the
/// other dimensions symbolic; nullopt when any channel does not fit.
std::optional<Recognized> recognize(Value root) {
  auto type = dyn_cast<RankedTensorType>(root.getType());
  if (!type || !type.hasStaticShape() ||
      (type.getRank() != 3 && type.getRank() != 4) ||
      !isa<Float32Type, Float16Type, BFloat16Type>(type.getElementType()))
    return std::nullopt;
  MLIRContext *ctx = root.getContext();
  ArrayRef<int64_t> shape = type.getShape();
  const int64_t rank = type.getRank(), numChannels = shape.back();
  // The index of every channel: d0, d1, ... for the other dimensions (0 for
  // unit ones), the channel itself constant.
  Index base;
  for (int64_t d = 0; d + 1 < rank; ++d)
    base.push_back(shape[d] == 1 ? getAffineConstantExpr(0, ctx)
                                 : getAffineDimExpr(d, ctx));
  auto dim = [&](int64_t d) { return base[d]; };

  TermBuilder builder(ctx, shape, /*budget=*/4096 * numChannels);
  Recognized r;
  r.root = root;
  r.rootOp = root.getDefiningOp();
  SmallVector<ChannelFacts> channels(numChannels);
  // Which activation dims the table's batch and token indices follow.
  // Candidates: bhsd (token = dim 2), bshd (token = dim 1); thd: dim 0.
  bool maybeBHSD = rank == 4, maybeBSHD = rank == 4;

  auto fail = [&]() -> std::optional<Recognized> { return std::nullopt; };
  for (int64_t c = 0; c < numChannels; ++c) {
    Index index(base);
    index.push_back(getAffineConstantExpr(c, ctx));
    const Term *t = builder.element(root, index);
    if (!t)
      return fail();
    ChannelFacts &facts = channels[c];
    // A channel passed through unchanged (partial rotary).
    if (t->kind == Term::Kind::Element && t->index == ArrayRef(index) &&
        t->tensor.getType() == root.getType() && t->tensor != root) {
      if (c == 0)
        return fail(); // rotated channels come first
      if (r.x != t->tensor)
        return fail();
      continue;
    }
    std::optional<RotatedElement> e = matchRotated(t, type);
    if (!e)
      return fail();
    // Which product reads x at this very element decides cos vs sin.
    if (e->direct.index != ArrayRef(index) || e->direct.negated) {
      std::swap(e->direct, e->rotated);
      std::swap(e->cos, e->sin);
    }
    if (e->direct.index != ArrayRef(index) || e->direct.negated ||
        e->direct.x != e->rotated.x)
      return fail();
    ArrayRef<AffineExpr> partnerIndex = e->rotated.index;
    std::optional<int64_t> partner = constantOf(partnerIndex.back());
    if (!partner || partnerIndex.drop_back() != ArrayRef(index).drop_back())
      return fail();
    if (c == 0)
      r.x = e->direct.x;
    if (r.x != e->direct.x || e->cos.computed != e->sin.computed)
      return fail();
    facts.rotated = true;
    facts.partner = *partner;
    facts.negated = e->rotated.negated;

    // The table side: both tables read at this channel, same row.
    const TableRef &cs = e->cos, &sn = e->sin;
    ArrayRef<AffineExpr> batchToken; // the table's [batch?, token] indices
    std::optional<int64_t> axis;
    if (cs.computed) {
      if (cs.isSin || !sn.isSin || cs.positions != sn.positions ||
          cs.invFreq != sn.invFreq || cs.positionIndex != sn.positionIndex ||
          cs.pair != sn.pair || cs.scale != sn.scale)
        return fail();
      if (c == 0) {
        r.computed = true;
        r.positions = cs.positions;
        r.invFreq = cs.invFreq;
        r.scale = cs.scale;
      }
      if (!r.computed || r.positions != cs.positions ||
          r.invFreq != cs.invFreq || r.scale != cs.scale)
        return fail();
      axis = constantOf(cs.positionIndex[0]);
      if (!axis)
        return fail();
      facts.pair = cs.pair;
      batchToken = cs.positionIndex.drop_front();
    } else {
      if (cs.tableIndex != sn.tableIndex ||
          cs.table.getType() != sn.table.getType())
        return fail();
      if (c == 0) {
        r.cos = cs.table;
        r.sin = sn.table;
      }
      if (r.computed || r.cos != cs.table || r.sin != sn.table)
        return fail();
      int64_t tableRank = cs.tableIndex.size();
      int64_t plainRank = rank == 4 ? 3 : 2; // [B, S, R] or [T, R]
      if (tableRank != plainRank && tableRank != plainRank + 1)
        return fail();
      if (cs.tableIndex.back() != index.back())
        return fail();
      if (tableRank == plainRank + 1) {
        axis = constantOf(cs.tableIndex[0]);
        if (!axis)
          return fail();
      }
      batchToken = cs.tableIndex.drop_back().drop_front(axis ? 1 : 0);
    }
    facts.axis = axis.value_or(-1);
    // The table's batch/token indices follow the activation's.
    if (rank == 4) {
      if (batchToken.size() != 2 || batchToken[0] != dim(0))
        return fail();
      maybeBHSD &= batchToken[1] == dim(2);
      maybeBSHD &= batchToken[1] == dim(1);
      if (!maybeBHSD && !maybeBSHD)
        return fail();
    } else if (batchToken.size() != 1 || batchToken[0] != dim(0)) {
      return fail();
    }
  }

  // Rotated channels first, then pass-through ones.
  int64_t rotaryDim = 0;
  while (rotaryDim < numChannels && channels[rotaryDim].rotated)
    ++rotaryDim;
  for (int64_t c = rotaryDim; c < numChannels; ++c)
    if (channels[c].rotated)
      return fail();
  if (rotaryDim == 0 || rotaryDim % 2)
    return fail();
  const int64_t numPairs = rotaryDim / 2;
  auto isLayout = [&](PairLayout pairs) {
    for (int64_t c = 0; c < rotaryDim; ++c) {
      bool firstOfPair = pairs == PairLayout::NeoX ? c < numPairs : c % 2 == 0;
      int64_t partner =
          pairs == PairLayout::NeoX ? (c + numPairs) % rotaryDim : c ^ 1;
      int64_t pair = pairs == PairLayout::NeoX ? c % numPairs : c / 2;
      const ChannelFacts &f = channels[c];
      if (f.partner != partner || f.negated != firstOfPair ||
          f.axis != channels[partner].axis || (r.computed && f.pair != pair))
        return false;
    }
    return true;
  };
  if (isLayout(PairLayout::NeoX))
    r.pairs = PairLayout::NeoX;
  else if (isLayout(PairLayout::GPTJ))
    r.pairs = PairLayout::GPTJ;
  else
    return fail();
  r.rotaryDim = rotaryDim;
  r.layout = rank == 3   ? TensorLayout::THD
             : maybeBHSD ? TensorLayout::BHSD
                         : TensorLayout::BSHD;
  if (channels[0].axis >= 0) {
    for (int64_t j = 0; j < numPairs; ++j) {
      int64_t c = r.pairs == PairLayout::NeoX ? j : 2 * j;
      if (channels[c].axis < 0 || channels[c].axis > 2)
        return fail();
      r.pairAxes.push_back(static_cast<Axis>(channels[c].axis));
    }
  }
  if (r.computed) {
    // mrope.apply's operand contracts: inv_freq has one entry per pair and
    // positions are [3, B, S] ([3, T] packed) for this activation.
    auto freqType = cast<RankedTensorType>(r.invFreq.getType());
    auto posType = cast<RankedTensorType>(r.positions.getType());
    if (freqType.getDimSize(0) != numPairs ||
        posType.getRank() != (rank == 4 ? 3 : 2) ||
        !isa<IntegerType, Float32Type>(posType.getElementType()))
      return fail();
  }
  return r;
}

//===----------------------------------------------------------------------===//
// Rewriting
//===----------------------------------------------------------------------===//

/// Erases `op` and then every producer that became dead, but nothing else;
/// records what it erased in `erased`.
void eraseDeadSlice(Operation *op, llvm::DenseSet<Operation *> &erased) {
  llvm::SetVector<Operation *> worklist;
  worklist.insert(op);
  while (!worklist.empty()) {
    Operation *next = worklist.pop_back_val();
    if (!isOpTriviallyDead(next))
      continue;
    SetVector<Value> used(next->getOperands().begin(),
                          next->getOperands().end());
    // Scalars a body captures from above (constants) die with it too.
    getUsedValuesDefinedAbove(next->getRegions(), used);
    for (Value operand : used)
      if (Operation *producer = operand.getDefiningOp())
        worklist.insert(producer);
    erased.insert(next);
    next->erase();
  }
}

/// The point right after the last of `values` to be defined in `block`, and
/// after `after` (the op raised before, so raised ops keep program order)
/// when that is still before `limit`.
Block::iterator insertionPointAfter(Block *block, ValueRange values,
                                    Operation *after, Operation *limit) {
  Block::iterator point = block->begin();
  if (after && after->getBlock() == block &&
      (!limit || after->isBeforeInBlock(block->findAncestorOpInBlock(*limit))))
    point = std::next(Block::iterator(after));
  for (Value v : values) {
    Operation *def = v.getDefiningOp();
    if (!def)
      continue;
    Operation *inBlock = block->findAncestorOpInBlock(*def);
    if (inBlock &&
        (point == block->begin() || std::prev(point)->isBeforeInBlock(inBlock)))
      point = std::next(Block::iterator(inBlock));
  }
  return point;
}

struct RaiseLinalgRotaryPass
    : mrope::impl::RaiseLinalgRotaryBase<RaiseLinalgRotaryPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    erased.clear();
    lastRaised = nullptr;
    SmallVector<Recognized> found;
    func.walk([&](Operation *op) {
      if (op->getNumRegions() && !isa<linalg::LinalgOp>(op))
        return; // only straight-line tensor code is looked at
      if (!isa<linalg::LinalgOp, tensor::ConcatOp, tensor::InsertSliceOp>(op))
        return;
      for (Value result : op->getResults()) {
        if (std::optional<Recognized> r = recognize(result))
          found.push_back(std::move(*r));
      }
    });

    // Computed form: pair tensors that share positions, frequencies and
    // configuration into one mrope.apply (q and k).
    SmallVector<bool> done(found.size(), false);
    for (size_t i = 0; i < found.size(); ++i) {
      // A candidate inside another's dead producers is gone already.
      if (done[i] || erased.contains(found[i].rootOp))
        continue;
      Recognized &a = found[i];
      done[i] = true;
      if (!a.computed) {
        raiseRead(a);
        continue;
      }
      std::optional<size_t> partner;
      for (size_t j = i + 1; j < found.size() && !partner; ++j) {
        Recognized &b = found[j];
        if (!done[j] && !erased.contains(b.rootOp) && b.computed &&
            b.positions == a.positions && b.invFreq == a.invFreq &&
            b.layout == a.layout && b.pairs == a.pairs &&
            b.rotaryDim == a.rotaryDim && b.pairAxes == a.pairAxes &&
            b.scale == a.scale &&
            getElementTypeOrSelf(b.x.getType()) ==
                getElementTypeOrSelf(a.x.getType()) &&
            raiseComputed(a, &b, /*dryRun=*/true)) {
          partner = j;
          done[j] = true;
        }
      }
      raiseComputed(a, partner ? &found[*partner] : nullptr,
                    /*dryRun=*/false);
    }
  }

  /// Ops erased so far (dead producers of raised tensors).
  llvm::DenseSet<Operation *> erased;
  /// The op raised last.
  Operation *lastRaised = nullptr;

  RotaryAttr rotaryOf(const Recognized &r) {
    MLIRContext *ctx = &getContext();
    AllocationAttr alloc = inferAllocation(ctx, r.pairAxes);
    return RotaryAttr::get(ctx, alloc, r.pairs, r.rotaryDim, F64(r.scale),
                           AnglePrecision::Reference);
  }

  /// mrope.apply for `q` (and `k`, or q again). With dryRun, only says
  /// whether the op can be placed so that it dominates every use.
  bool raiseComputed(Recognized &q, Recognized *k, bool dryRun) {
    Block *block = q.root.getParentBlock();
    Value kx = k ? k->x : q.x;
    if (k && k->root.getParentBlock() != block)
      return false;
    Block::iterator point =
        insertionPointAfter(block, {q.x, kx, q.positions, q.invFreq},
                            lastRaised, q.root.getDefiningOp());
    OpBuilder b(block, point);
    // Every use of the roots must come after the new op.
    auto placeable = [&](Value root) {
      return llvm::all_of(root.getUsers(), [&](Operation *user) {
        Operation *u = block->findAncestorOpInBlock(*user);
        return u && (point == block->end() || u == &*point ||
                     point->isBeforeInBlock(u));
      });
    };
    if (!placeable(q.root) || (k && !placeable(k->root)))
      return false;
    if (dryRun)
      return true;
    auto apply = ApplyOp::create(
        b, q.root.getLoc(), q.x.getType(), kx.getType(), q.x, kx, q.positions,
        q.invFreq, TensorLayoutAttr::get(&getContext(), q.layout), rotaryOf(q),
        /*inverse=*/nullptr);
    lastRaised = apply;
    replaceRoot(q.root, apply.getQOut());
    if (k)
      replaceRoot(k->root, apply.getKOut());
    return true;
  }

  void raiseRead(Recognized &r) {
    Block *block = r.root.getParentBlock();
    Block::iterator point = insertionPointAfter(
        block, {r.x, r.cos, r.sin}, lastRaised, r.root.getDefiningOp());
    OpBuilder b(block, point);
    std::optional<AllocationAttr> alloc;
    if (!r.pairAxes.empty())
      alloc = inferAllocation(&getContext(), r.pairAxes);
    auto rotate =
        RotateOp::create(b, r.root.getLoc(), r.x.getType(), r.x, r.cos, r.sin,
                         TensorLayoutAttr::get(&getContext(), r.layout),
                         PairLayoutAttr::get(&getContext(), r.pairs),
                         alloc ? *alloc : AllocationAttr());
    lastRaised = rotate;
    replaceRoot(r.root, rotate.getResult());
  }

  void replaceRoot(Value root, Value replacement) {
    Operation *def = root.getDefiningOp();
    root.replaceAllUsesWith(replacement);
    eraseDeadSlice(def, erased);
  }
};

} // namespace
