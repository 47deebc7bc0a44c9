//===- OnnxDialect.cpp - the onnx import dialect --------------------------===//

#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::onnx;

#include "dialects/onnx/IR/OnnxDialect.cpp.inc"

void OnnxDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/onnx/IR/OnnxOps.cpp.inc"
      >();
}

LogicalResult NodeOp::verify() {
  if (getOpType().empty())
    return emitOpError("needs a non-empty op_type");
  if (std::optional<StringRef> domain = getDomain();
      domain && (domain->empty() || *domain == "ai.onnx"))
    return emitOpError() << "spells the default domain as no domain, not \""
                         << *domain << "\"";
  return success();
}

LogicalResult IfOp::verify() {
  for (Region *branch : {&getThenBranch(), &getElseBranch()}) {
    Block &block = branch->front();
    auto yield = block.empty() ? YieldOp() : dyn_cast<YieldOp>(block.back());
    if (!yield)
      return emitOpError("branches must end in onnx.yield");
    if (yield.getValues().size() != getNumResults())
      return emitOpError() << "branch yields " << yield.getValues().size()
                           << " values for " << getNumResults() << " outputs";
  }
  return success();
}

LogicalResult LoopOp::verify() {
  Block &body = getBody().front();
  size_t carried = getInitial().size();
  if (body.getNumArguments() != carried + 2)
    return emitOpError() << "body takes " << body.getNumArguments()
                         << " arguments; the iteration number, the condition "
                            "and "
                         << carried << " carried values make " << carried + 2;
  auto yield = body.empty() ? YieldOp() : dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError("body must end in onnx.yield");
  if (yield.getValues().size() < carried + 1 ||
      getNumResults() != yield.getValues().size() - 1)
    return emitOpError() << "body yields " << yield.getValues().size()
                         << " values: the condition, " << carried
                         << " carried values and one per scan output of the "
                         << getNumResults() << " outputs";
  return success();
}

void NodeOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  static const llvm::StringSet<> kRandom = {
      "RandomNormal",      "RandomNormalLike", "RandomUniform",
      "RandomUniformLike", "Multinomial",      "Bernoulli"};
  if (getDomainName().empty() && !kRandom.contains(getOpType()))
    return;
  effects.emplace_back(MemoryEffects::Read::get());
  effects.emplace_back(MemoryEffects::Write::get());
}

#define GET_OP_CLASSES
#include "dialects/onnx/IR/OnnxOps.cpp.inc"
