//===- GenerateCudaKernels.cpp - lora-generate-cuda-kernels ---------------===//
//
// Replaces `lora.linear` and fresh-result `linalg.matmul`s on bf16/f16 with
// launches of kernels built by lora/Target/Cuda.h. The op becomes
//
//   %xb = bufferization.to_buffer %x          (batch dims collapsed into M)
//   %t  = memref.alloc(%m)                    (LoRA only: the [M, r] workspace)
//   %yb = memref.alloc(%m)
//   call @lora_kernels_<n>_launch(%xb, %wb, ..., %t, %yb)
//   %y  = bufferization.to_tensor %yb restrict
//
// (a lora.linear with a lora_input passes that too: lora_down reads it
// instead of x), so the function still bufferizes with one-shot-bufferize,
// and the launcher,
// on memrefs, is a function of its own that other host code can call. Where
// buffers live is lora-cuda-device-memory's business (device memory, after
// bufferization), and it frees t and y after their last use like any other
// buffer of the host code.
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"
#include "lora/Target/Cuda.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAGENERATECUDAKERNELS
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;
using cuda::GemmKernelSpec;
using cuda::GemmKind;

namespace {

/// One op to replace: its problem and its operands as tensors (`branch`:
/// lora.linear's lora_input, what lora_down reads instead of x).
struct Candidate {
  Operation *op;
  GemmKernelSpec main;
  Value x, w, a, b, bias, branch;
};

/// True when `init` is a tensor the matmul overwrites: tensor.empty, or a
/// linalg.fill of zero.
static bool isFreshResult(Value init) {
  if (init.getDefiningOp<tensor::EmptyOp>())
    return true;
  auto fill = init.getDefiningOp<linalg::FillOp>();
  return fill && matchPattern(fill.value(), m_AnyZeroFloat()) &&
         fill.output().getDefiningOp<tensor::EmptyOp>();
}

static std::optional<Candidate> matchLinear(lora::LinearOp op) {
  auto xType = cast<RankedTensorType>(op.getInput().getType());
  auto wType = cast<RankedTensorType>(op.getWeight().getType());
  if (xType.getRank() < 2 || !wType.hasStaticShape())
    return std::nullopt;
  // Batch dims fold into M; restoring them needs them static.
  for (int64_t d = 0; d + 2 < xType.getRank(); ++d)
    if (xType.isDynamicDim(d))
      return std::nullopt;
  Candidate c{op,
              {},
              op.getInput(),
              op.getWeight(),
              op.getLoraA(),
              op.getLoraB(),
              op.getBias(),
              op.getLoraInput()};
  c.main.kind = GemmKind::LoraLinear;
  c.main.elementType = wType.getElementType();
  c.main.resultType = op.getType().getElementType();
  c.main.k = op.getInputSize();
  c.main.n = op.getOutputSize();
  c.main.rank = op.getRank();
  c.main.hasBias = static_cast<bool>(op.getBias());
  c.main.scale = op.getScale().convertToDouble();
  return c;
}

static std::optional<Candidate> matchMatmul(linalg::MatmulOp op) {
  if (!op.hasPureTensorSemantics() || op.getInputs().size() != 2 ||
      !isFreshResult(op.getOutputs()[0]))
    return std::nullopt;
  // Only the default indexing maps: x[M,K]·w[K,N].
  if (op.hasUserDefinedMaps())
    return std::nullopt;
  auto xType = cast<RankedTensorType>(op.getInputs()[0].getType());
  auto wType = cast<RankedTensorType>(op.getInputs()[1].getType());
  auto yType = cast<RankedTensorType>(op.getResultTypes()[0]);
  if (!wType.hasStaticShape() ||
      xType.getElementType() != wType.getElementType())
    return std::nullopt;
  Candidate c{op, {}, op.getInputs()[0], op.getInputs()[1], {}, {}, {}, {}};
  c.main.kind = GemmKind::Matmul;
  c.main.elementType = wType.getElementType();
  c.main.resultType = yType.getElementType();
  c.main.k = wType.getDimSize(0);
  c.main.n = wType.getDimSize(1);
  return c;
}

struct GenerateCudaKernelsPass
    : lora::impl::LoraGenerateCudaKernelsBase<GenerateCudaKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (tileN != 0 && (tileN % 64 != 0 || tileN > 256)) {
      module.emitError() << "lora-generate-cuda-kernels: tile-n must be 64, "
                            "128, 192 or 256, not "
                         << static_cast<int64_t>(tileN);
      return signalPassFailure();
    }
    SmallVector<Candidate> candidates;
    module.walk([&](Operation *op) {
      std::optional<Candidate> c;
      if (auto linear = dyn_cast<lora::LinearOp>(op))
        c = matchLinear(linear);
      else if (auto matmul = dyn_cast<linalg::MatmulOp>(op))
        c = matchMatmul(matmul);
      if (c && cuda::checkGemmProblem(c->main).empty())
        candidates.push_back(*c);
    });
    if (candidates.empty())
      return;

    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(module.getContext()));
    SymbolTable symbols(module);
    for (auto [i, c] : llvm::enumerate(candidates))
      rewrite(c, ("lora_kernels_" + Twine(i)).str(), symbols);
  }

  /// Builds the kernels (in gpu.module `name`) and the launcher of `c` and
  /// replaces its op.
  void rewrite(Candidate &c, StringRef name, SymbolTable &symbols);
};

} // namespace

void GenerateCudaKernelsPass::rewrite(Candidate &c, StringRef moduleName,
                                      SymbolTable &symbols) {
  MLIRContext *ctx = c.op->getContext();
  ModuleOp module = getOperation();
  cuda::chooseGemmTiling(c.main, tileN, maxStages);
  std::optional<GemmKernelSpec> down;
  if (c.main.kind == GemmKind::LoraLinear) {
    down = GemmKernelSpec();
    down->kind = GemmKind::LoraDown;
    down->elementType = down->resultType = c.main.elementType;
    down->k = c.main.k;
    down->n = down->rank = c.main.rank;
    down->scale = c.main.scale;
    cuda::chooseGemmTiling(*down, 0, maxStages);
  }

  // The kernels, in a gpu.module of their own.
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  Location loc = c.op->getLoc();
  auto kernels = gpu::GPUModuleOp::create(builder, loc, moduleName);
  symbols.insert(kernels);
  StringRef name = kernels.getName();
  gpu::GPUFuncOp downKernel;
  if (down)
    downKernel =
        cuda::buildGemmKernel(builder, loc, kernels, "lora_down", *down);
  gpu::GPUFuncOp mainKernel = cuda::buildGemmKernel(
      builder, loc, kernels,
      c.main.kind == GemmKind::Matmul ? "matmul" : "lora_linear", c.main);

  // The launcher: x, w[, a, b[, bias][, branch], t], y as device memrefs.
  Type elem = c.main.elementType;
  int64_t dyn = ShapedType::kDynamic;
  auto memref = [](ArrayRef<int64_t> shape, Type type) {
    return MemRefType::get(shape, type);
  };
  SmallVector<Type> argTypes{memref({dyn, c.main.k}, elem),
                             memref({c.main.k, c.main.n}, elem)};
  if (down) {
    argTypes.push_back(memref({c.main.k, c.main.rank}, elem));
    argTypes.push_back(memref({c.main.rank, c.main.n}, elem));
    if (c.main.hasBias)
      argTypes.push_back(memref({c.main.n}, elem));
    if (c.branch)
      argTypes.push_back(memref({dyn, c.main.k}, elem));
    argTypes.push_back(memref({dyn, c.main.rank}, elem));
  }
  argTypes.push_back(memref({dyn, c.main.n}, c.main.resultType));
  builder.setInsertionPointToEnd(module.getBody());
  auto launcher = func::FuncOp::create(builder, loc, (name + "_launch").str(),
                                       FunctionType::get(ctx, argTypes, {}));
  launcher.setPrivate();
  symbols.insert(launcher);
  {
    OpBuilder::InsertionGuard guard(builder);
    Block *body = launcher.addEntryBlock();
    builder.setInsertionPointToStart(body);
    ValueRange args = body->getArguments();
    Value m = memref::DimOp::create(builder, loc, args[0], 0);
    if (down) {
      // x (or the branch input), a -> t.
      Value branch = c.branch ? args[args.size() - 3] : args[0];
      cuda::buildGemmLaunch(builder, loc, downKernel, *down,
                            {branch, args[2], args[args.size() - 2]}, m);
      SmallVector<Value> mainArgs{args[0], args[1], args[args.size() - 2],
                                  args[3]};
      if (c.main.hasBias)
        mainArgs.push_back(args[4]);
      mainArgs.push_back(args.back());
      cuda::buildGemmLaunch(builder, loc, mainKernel, c.main, mainArgs, m);
    } else {
      cuda::buildGemmLaunch(builder, loc, mainKernel, c.main, args, m);
    }
    func::ReturnOp::create(builder, loc);
  }

  // The op itself.
  ImplicitLocOpBuilder b(loc, c.op);
  auto xType = cast<RankedTensorType>(c.x.getType());
  auto yType = cast<RankedTensorType>(c.op->getResult(0).getType());
  Value x = c.x, branch = c.branch;
  SmallVector<ReassociationIndices> reassociation;
  if (xType.getRank() > 2) {
    ReassociationIndices batch;
    for (int64_t d = 0; d + 1 < xType.getRank(); ++d)
      batch.push_back(d);
    reassociation = {batch, {xType.getRank() - 1}};
    x = tensor::CollapseShapeOp::create(b, x, reassociation);
    if (branch)
      branch = tensor::CollapseShapeOp::create(b, branch, reassociation);
  }
  auto toBuffer = [&](Value tensor, MemRefType type) -> Value {
    auto tensorType = cast<RankedTensorType>(tensor.getType());
    Value buffer = bufferization::ToBufferOp::create(
        b, MemRefType::get(tensorType.getShape(), tensorType.getElementType()),
        tensor, b.getUnitAttr());
    if (buffer.getType() != type)
      buffer = memref::CastOp::create(b, type, buffer);
    return buffer;
  };
  SmallVector<Value> operands{toBuffer(x, cast<MemRefType>(argTypes[0])),
                              toBuffer(c.w, cast<MemRefType>(argTypes[1]))};
  if (down) {
    operands.push_back(toBuffer(c.a, cast<MemRefType>(argTypes[2])));
    operands.push_back(toBuffer(c.b, cast<MemRefType>(argTypes[3])));
    if (c.bias)
      operands.push_back(toBuffer(c.bias, cast<MemRefType>(argTypes[4])));
    if (branch)
      operands.push_back(
          toBuffer(branch, cast<MemRefType>(argTypes[operands.size()])));
  }
  Value m = memref::DimOp::create(b, operands[0], 0);
  // Plain allocations, not freed here: lora-cuda-device-memory puts every
  // buffer of the host code in device memory and frees it after its last
  // use.
  auto alloc = [&](Type type) -> Value {
    return memref::AllocOp::create(b, cast<MemRefType>(type), ValueRange{m});
  };
  Value t;
  if (down) {
    t = alloc(argTypes[argTypes.size() - 2]);
    operands.push_back(t);
  }
  Value y = alloc(argTypes.back());
  operands.push_back(y);
  func::CallOp::create(b, launcher, operands);
  Value result = bufferization::ToTensorOp::create(
      b, RankedTensorType::get({dyn, c.main.n}, c.main.resultType), y,
      b.getUnitAttr(), b.getUnitAttr());
  // Static rows again where x had them, then the batch dims.
  int64_t rows = cast<RankedTensorType>(x.getType()).getDimSize(0);
  if (!ShapedType::isDynamic(rows))
    result = tensor::CastOp::create(
        b, RankedTensorType::get({rows, c.main.n}, c.main.resultType), result);
  if (!reassociation.empty())
    result = tensor::ExpandShapeOp::create(
        b, RankedTensorType::get(yType.getShape(), yType.getElementType()),
        result, reassociation);
  if (result.getType() != yType)
    result = tensor::CastOp::create(b, yType, result);
  IRRewriter rewriter(b);
  rewriter.replaceOp(c.op, result);
}
