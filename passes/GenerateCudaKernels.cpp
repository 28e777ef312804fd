//===- GenerateCudaKernels.cpp - lora-generate-cuda-kernels ---------------===//
//
// Replaces `lora.linear`, `tosa.matmul` [1, M, K] x [1, K, N] (the frozen
// linear layers of an ONNX model, a rounding cast of the result fused),
// `tosa.matmul` [B, M, K] x [B, K, N] (the attention's batched matmuls: a
// batched kernel, B and M from the operands at run time) and fresh-result
// `linalg.matmul`s on bf16/f16 with launches of kernels built by
// lora/Target/Cuda.h. The op becomes
//
//   %xb = bufferization.to_buffer %x          (batch dims collapsed into M,
//                                              but for a batched kernel)
//   %t  = memref.alloc(%m)                    (LoRA only: the [M, r] workspace)
//   %yb = memref.alloc(%m)
//   call @lora_kernels_<n>_launch(%xb, %wb, ..., %t, %yb)
//   %y  = bufferization.to_tensor %yb restrict
//
// (a lora.linear with a lora_input passes that too: lora_down reads it
// instead of x; a tosa.matmul whose K or N is not a multiple of 8, which
// TMA's 16-byte row strides need, passes copies of x and w zero-padded to
// multiples of 8 (w read transposed with an aligned K as stored), and y's
// extra columns are sliced off), so the function
// still bufferizes with one-shot-bufferize,
// and the launcher,
// on memrefs, is a function of its own that other host code can call. Where
// buffers live is lora-cuda-device-memory's business (device memory, after
// bufferization), and it frees t and y after their last use like any other
// buffer of the host code. With `reference-launchers` (--target=cuda-emulated)
// no kernel is built and each launcher computes its kernels' results with
// linalg on the same memrefs (cuda::buildGemmReference). Ops whose kernels
// would be the same (equal GemmKernelSpecs: a model's layers of one shape)
// share one gpu.module and launcher, built for the first of them.
//
// `lora.linear_grad` becomes five kernels, each with a launcher of its own
// (`@lora_kernels_<n>_<kernel>_launch`), called in this order on buffers of
// the tensors (t = x·A with x the branch input where there is one; M the
// token count, batch dims collapsed):
//
//   lora_down         ts = s·(x·A)              [M, r]  (the forward's kernel)
//   lora_t_grad       dt = s·(g·Bᵀ)             [M, r]  B read as stored
//   lora_b_grad       dB = tsᵀ·g                [r, N]  contraction over M
//   lora_a_grad       dA = xᵀ·dt                [K, r]  contraction over M
//   lora_input_grad   dx = g·Wᵀ + dt·Aᵀ         [M, K]  [g | dt]·[Wᵀ ; Aᵀ]
//
// or, with a lora_input, `dx = g·Wᵀ` and `lora_branch_grad` dxl = dt·Aᵀ;
// an unused dx or dxl is not computed. With `fuse-lora-down` (rank at most
// 16, no lora_input, dx used) lora_input_grad computes dt itself from the
// g boxes it loads anyway and stores it, so there is no lora_t_grad; it
// runs first, then lora_b_grad and lora_a_grad (on its dt); with
// `fuse-lora-b-grad` it computes dB as well, adding its parts into an f32
// dBᵀ [N, r] that its launcher zeroes, and one elementwise op transposes
// and rounds that to dB: no lora_b_grad, no second read of g; with
// `fuse-lora-a-grad` dA as well, from x after its main loop, into an f32
// dA [K, r] rounded likewise: no lora_a_grad, so the backward is that one
// kernel. Where a
// lora.linear of the same lora_down input, A, rank and scale comes before
// it (the train step's forward), there is no lora_down: ts is that op's t,
// kept alive until here (findForward). W, A and B are read in the layout the
// forward stores them (the kernels take transposed operands), and the
// token-major t, g, x and dt are read as they are: nothing is transposed in
// memory. ts and dt are rounded to the element type, as a bf16 autograd
// rounds them; the rest accumulates in f32.
//
// Work: dx is the forward's flops again (2MNK + 2MrK); ts and dA add 2MKr
// each, dt and dB 2MNr each, and each of those four reads x or g once (ts
// only where the forward's t is not at hand; a fused lora_input_grad reads
// g once for dt and dx). The weight gradients contract over M with small
// outputs, in 64x64 tiles (64 CTAs for 4096 x 16); where those are few,
// a cluster of CTAs splits the tokens of each (chooseGemmTilings).
//
//===----------------------------------------------------------------------===//

#include "lora/Passes/Passes.h"
#include "lora/Target/Cuda.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dominance.h"
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
  /// A tosa.matmul's f32 result rounded to the operands' type by this cast
  /// (through `castReshape` where there is one): the kernel stores the
  /// rounded result instead, and the cast is replaced.
  Operation *fusedCast = nullptr;
  Operation *castReshape = nullptr;
  /// N of a tosa.matmul whose kernel computes a zero-padded problem (main.k
  /// and main.n rounded up to multiples of 8, which TMA's 16-byte row
  /// strides need); 0 where nothing is padded.
  int64_t unpaddedN = 0;
  /// A lora.linear_grad reads this op's t (keepT); savedT is t as a tensor
  /// after the launch.
  bool keepT = false;
  Value savedT;
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

/// A `tosa.matmul` on bf16/f16 with zero zero-points and a static K and N:
/// `[1, M, K] x [1, K, N]` with a static right side, the form ONNX MatMul
/// and Gemm with a weight take (the frozen layers LoRA does not adapt), or
/// `[B, M, K] x [B, K, N]` for any other batch size B (the attention's
/// batched matmuls: a batched kernel). The right side may be a `[0, 2, 1]`
/// transpose of a stored `[B, N, K]` (the backward's g·Wᵀ, the attention's
/// q·kᵀ), read as stored. A cast of the f32 result to the operands' type,
/// directly or after one reshape, is fused.
static std::optional<Candidate> matchTosaMatmul(tosa::MatMulOp op) {
  auto xType = dyn_cast<RankedTensorType>(op.getA().getType());
  auto rhsType = dyn_cast<RankedTensorType>(op.getB().getType());
  auto yType = dyn_cast<RankedTensorType>(op.getType());
  if (!xType || !rhsType || !yType || xType.getRank() != 3 ||
      xType.isDynamicDim(2) || rhsType.isDynamicDim(1) ||
      rhsType.isDynamicDim(2))
    return std::nullopt;
  bool batched = xType.getDimSize(0) != 1;
  if (!batched && (!rhsType.hasStaticShape() || rhsType.getDimSize(0) != 1))
    return std::nullopt;
  // TOSA's verifier lets the batch sizes differ, which means nothing here
  // (upstream's linalg lowering rejects it too); dynamic ones are taken to
  // be equal, as linalg.batch_matmul does.
  int64_t xBatch = xType.getDimSize(0), rhsBatch = rhsType.getDimSize(0);
  if (!ShapedType::isDynamic(xBatch) && !ShapedType::isDynamic(rhsBatch) &&
      xBatch != rhsBatch)
    return std::nullopt;
  if (!matchPattern(op.getAZp(), m_AnyZeroFloat()) ||
      !matchPattern(op.getBZp(), m_AnyZeroFloat()))
    return std::nullopt;
  Value w = op.getB();
  bool transposedB = false;
  if (auto transpose = w.getDefiningOp<tosa::TransposeOp>();
      transpose && transpose.getPerms() == ArrayRef<int32_t>{0, 2, 1}) {
    w = transpose.getInput1();
    transposedB = true;
  }
  Type elem = xType.getElementType();
  if (rhsType.getElementType() != elem)
    return std::nullopt;
  Candidate c{op, {}, op.getA(), w, {}, {}, {}, {}};
  c.main.kind = GemmKind::Matmul;
  c.main.elementType = elem;
  c.main.resultType = yType.getElementType();
  c.main.k = rhsType.getDimSize(1);
  c.main.n = rhsType.getDimSize(2);
  c.main.transposedB = transposedB;
  c.main.batched = batched;

  // The rounding cast, in the same block.
  auto roundedBy = [&](Value v) -> tosa::CastOp {
    if (!v.hasOneUse())
      return {};
    auto cast = dyn_cast<tosa::CastOp>(*v.getUsers().begin());
    if (!cast || cast->getBlock() != op->getBlock() ||
        cast.getType().getElementType() != elem)
      return {};
    return cast;
  };
  if (c.main.resultType != elem) {
    tosa::CastOp cast = roundedBy(op.getResult());
    Operation *reshape = nullptr;
    if (!cast && op->hasOneUse()) {
      if (auto r = dyn_cast<tosa::ReshapeOp>(*op->getUsers().begin());
          r && r->getBlock() == op->getBlock()) {
        cast = roundedBy(r.getResult());
        reshape = r;
      }
    }
    if (cast) {
      c.fusedCast = cast;
      c.castReshape = reshape;
      c.main.resultType = elem;
    }
  }
  // Rows that TMA cannot stride (K or N not a multiple of 8: an odd
  // sequence length in the attention, GPT-2's vocabulary of 50257): the
  // kernel computes on copies zero-padded to multiples of 8, and the result
  // is sliced. The copies cost one more pass over x and w; the generic
  // kernels they replace read a row of x and a column of w per output; a w
  // read transposed with K aligned (q·kᵀ, a tied LM head's [50257, 768]
  // embedding) is not copied.
  if (!cuda::checkGemmProblem(c.main).empty()) {
    GemmKernelSpec padded = c.main;
    padded.k = llvm::alignTo(c.main.k, 8);
    padded.n = llvm::alignTo(c.main.n, 8);
    // A w read transposed, [N, K], has K-element rows: with K aligned, TMA
    // reads it as stored and zero-fills the rows past N.
    if (c.main.transposedB && padded.k == c.main.k && padded.n != c.main.n)
      padded.wRows = c.main.n;
    if (cuda::checkGemmProblem(padded).empty()) {
      c.unpaddedN = c.main.n;
      c.main = padded;
    }
  }
  return c;
}

/// `tensor` zero-padded at the end of its last two dims to `rows` x
/// `columns` (rows ShapedType::kDynamic: as many as it has).
static Value padMatrix(ImplicitLocOpBuilder &b, Value tensor, int64_t rows,
                       int64_t columns) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<int64_t> shape(type.getShape());
  if (!ShapedType::isDynamic(rows))
    shape[shape.size() - 2] = rows;
  shape.back() = columns;
  if (ArrayRef<int64_t>(shape) == type.getShape())
    return tensor;
  Value zero = arith::ConstantOp::create(b, type.getElementType(),
                                         b.getZeroAttr(type.getElementType()));
  // No output sizes for the dynamic dims (batch, M): they are not padded.
  return tensor::createPadHighOp(
      RankedTensorType::get(shape, type.getElementType()), tensor, zero,
      /*nofold=*/false, b.getLoc(), b);
}

/// A lora.linear_grad whose kernels can be generated: its specs by kernel
/// name, in launch order.
struct GradCandidate {
  lora::LinearGradOp op;
  SmallVector<std::pair<StringRef, GemmKernelSpec>> kernels;
  /// The candidate whose t this op reads instead of launching lora_down
  /// (-1: none).
  int64_t forward = -1;
};

static std::optional<GradCandidate> matchLinearGrad(lora::LinearGradOp op) {
  auto xType = cast<RankedTensorType>(op.getInput().getType());
  auto wType = cast<RankedTensorType>(op.getWeight().getType());
  auto gType = cast<RankedTensorType>(op.getResultGrad().getType());
  if (xType.getRank() < 2 || gType.getRank() != xType.getRank() ||
      !wType.hasStaticShape() ||
      gType.getElementType() != wType.getElementType())
    return std::nullopt;
  for (int64_t d = 0; d + 2 < xType.getRank(); ++d)
    if (xType.isDynamicDim(d) || gType.isDynamicDim(d))
      return std::nullopt;
  Type elem = wType.getElementType();
  int64_t k = wType.getDimSize(0), n = wType.getDimSize(1), r = op.getRank();
  double scale = op.getScale().convertToDouble();
  auto spec = [&](GemmKind kind, int64_t m, int64_t kk, int64_t nn,
                  bool transposedA, bool transposedB) {
    GemmKernelSpec s;
    s.kind = kind;
    s.elementType = s.resultType = elem;
    s.m = m;
    s.k = kk;
    s.n = nn;
    s.rank = kind == GemmKind::Matmul ? 0 : r;
    s.scale = kind == GemmKind::LoraDown ? scale : 1.0;
    s.transposedA = transposedA;
    s.transposedB = transposedB;
    return s;
  };
  constexpr int64_t kTokens = ShapedType::kDynamic;
  GradCandidate c{op, {}};
  c.kernels.push_back(
      {"lora_down", spec(GemmKind::LoraDown, kTokens, k, r, false, false)});
  c.kernels.push_back(
      {"lora_t_grad", spec(GemmKind::LoraDown, kTokens, n, r, false, true)});
  c.kernels.push_back(
      {"lora_b_grad", spec(GemmKind::Matmul, r, kTokens, n, true, false)});
  c.kernels.push_back(
      {"lora_a_grad", spec(GemmKind::Matmul, k, kTokens, r, true, false)});
  bool branch = static_cast<bool>(op.getLoraInput());
  if (!op.getInputGrad().use_empty())
    c.kernels.push_back(
        {"lora_input_grad",
         branch ? spec(GemmKind::Matmul, kTokens, n, k, false, true)
                : spec(GemmKind::LoraLinear, kTokens, n, k, false, true)});
  if (branch && !op.getLoraInputGrad().use_empty())
    c.kernels.push_back({"lora_branch_grad",
                         spec(GemmKind::Matmul, kTokens, r, k, false, true)});
  for (auto &[name, s] : c.kernels)
    if (!cuda::checkGemmProblem(s).empty())
      return std::nullopt;
  return c;
}

/// The index of the lora.linear among `candidates` whose t a lora.linear_grad
/// can read instead of computing ts = s·x·A again: one of the same
/// lora_down input (x, or the branch input), A, rank and scale, before it;
/// -1 when there is none. Its t is the same kernel's output on the same
/// operands, so the backward gets the same bits and skips one read of x
/// (2·M·K bytes); t, [M, r], stays alive until the backward.
static int64_t findForward(ArrayRef<Candidate> candidates,
                           lora::LinearGradOp op, DominanceInfo &dominance) {
  Value input = op.getLoraInput() ? op.getLoraInput() : op.getInput();
  for (auto [i, c] : llvm::enumerate(candidates)) {
    if (c.main.kind != GemmKind::LoraLinear ||
        (c.branch ? c.branch : c.x) != input || c.a != op.getLoraA() ||
        c.main.rank != static_cast<int64_t>(op.getRank()) ||
        c.main.scale != op.getScale().convertToDouble() ||
        !dominance.properlyDominates(c.op, op))
      continue;
    return i;
  }
  return -1;
}

/// Makes the LoraLinear `spec` compute t = scale·x·A (or the backward's
/// dt = scale·g·Bᵀ) in its tiles (fuse-lora-down) where the kernel can
/// (checkGemmProblem: rank at most 16, ...); returns whether it does. `spec`
/// is left as it was otherwise.
static bool fuseDownWherePossible(GemmKernelSpec &spec, double scale) {
  GemmKernelSpec fused = spec;
  fused.fuseDown = true;
  fused.scale = scale;
  if (!cuda::checkGemmProblem(fused).empty())
    return false;
  spec = fused;
  return true;
}

/// The row count of a token-major operand with its batch dims folded into
/// rows, where every dim but the last is static (a whole model's), else
/// ShapedType::kDynamic: what chooseGemmTilings sizes the tiles by.
static int64_t getStaticRows(Value tensor) {
  ArrayRef<int64_t> rows =
      cast<RankedTensorType>(tensor.getType()).getShape().drop_back();
  return ShapedType::isDynamicShape(rows) ? ShapedType::kDynamic
                                          : ShapedType::getNumElements(rows);
}

/// Reassociation that collapses every dim of a rank-`rank` tensor but the
/// last into one (the batch dims into M); empty for rank 2.
static SmallVector<ReassociationIndices> batchIntoRows(int64_t rank) {
  if (rank <= 2)
    return {};
  ReassociationIndices batch;
  for (int64_t d = 0; d + 1 < rank; ++d)
    batch.push_back(d);
  return {batch, {rank - 1}};
}

/// A private host function `name` taking `argTypes`, with an empty entry
/// block, at the builder's insertion point and in `symbols`.
static func::FuncOp createLauncher(OpBuilder &builder, Location loc,
                                   StringRef name, ArrayRef<Type> argTypes,
                                   SymbolTable &symbols) {
  auto launcher = func::FuncOp::create(
      builder, loc, name,
      FunctionType::get(builder.getContext(), argTypes, {}));
  launcher.setPrivate();
  symbols.insert(launcher);
  launcher.addEntryBlock();
  return launcher;
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
    if (persistent < 0) {
      module.emitError() << "lora-generate-cuda-kernels: persistent must be "
                            "0 or a number of CTAs, not "
                         << static_cast<int64_t>(persistent);
      return signalPassFailure();
    }
    if (multicast != 1 && multicast != 2) {
      module.emitError() << "lora-generate-cuda-kernels: multicast must be 1 "
                            "or 2, not "
                         << static_cast<int64_t>(multicast);
      return signalPassFailure();
    }
    if (fuseLoraBGrad && !fuseLoraDown) {
      module.emitError() << "lora-generate-cuda-kernels: fuse-lora-b-grad "
                            "needs fuse-lora-down (dB is computed in the "
                            "lora_input_grad that computes dt)";
      return signalPassFailure();
    }
    if (fuseLoraAGrad && !fuseLoraBGrad) {
      module.emitError() << "lora-generate-cuda-kernels: fuse-lora-a-grad "
                            "needs fuse-lora-b-grad (dA is computed in the "
                            "lora_input_grad that computes dB)";
      return signalPassFailure();
    }
    SmallVector<Candidate> candidates;
    SmallVector<GradCandidate> grads;
    module.walk([&](Operation *op) {
      std::optional<Candidate> c;
      if (auto linear = dyn_cast<lora::LinearOp>(op))
        c = matchLinear(linear);
      else if (auto matmul = dyn_cast<linalg::MatmulOp>(op))
        c = matchMatmul(matmul);
      else if (auto matmul = dyn_cast<tosa::MatMulOp>(op))
        c = matchTosaMatmul(matmul);
      else if (auto grad = dyn_cast<lora::LinearGradOp>(op))
        if (std::optional<GradCandidate> g = matchLinearGrad(grad))
          grads.push_back(std::move(*g));
      if (c && cuda::checkGemmProblem(c->main).empty())
        candidates.push_back(*c);
    });
    shared.clear();
    if (candidates.empty() && grads.empty())
      return;
    // A backward that can read its forward's t launches no lora_down.
    DominanceInfo dominance(module);
    for (GradCandidate &g : grads) {
      g.forward = findForward(candidates, g.op, dominance);
      if (g.forward < 0)
        continue;
      candidates[g.forward].keepT = true;
      llvm::erase_if(g.kernels, [](const auto &kernel) {
        return kernel.first == "lora_down";
      });
    }

    if (!referenceLaunchers)
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                      UnitAttr::get(module.getContext()));
    SymbolTable symbols(module);
    // Last first: a candidate's operands may be results of earlier ones
    // (a fused cast feeding the next layer), which their rewrites replace.
    // Operands come before their users, so rewriting backwards uses every
    // stored operand while it is still alive.
    int64_t next = candidates.size();
    for (Candidate &c : llvm::reverse(candidates))
      rewrite(c, ("lora_kernels_" + Twine(--next)).str(), symbols);
    next = candidates.size();
    for (GradCandidate &g : grads)
      rewriteGrad(g, ("lora_kernels_" + Twine(next++)).str(),
                  g.forward < 0 ? Value() : candidates[g.forward].savedT,
                  symbols);
  }

  /// Builds the kernels (in gpu.module `name`) and the launcher of `c`,
  /// unless an earlier op has the same ones, and replaces its op.
  void rewrite(Candidate &c, StringRef name, SymbolTable &symbols);
  func::FuncOp buildForwardLauncher(OpBuilder &builder, Location loc,
                                    StringRef moduleName,
                                    ArrayRef<GemmKernelSpec> downs,
                                    ArrayRef<GemmKernelSpec> mains,
                                    bool hasBranch, ArrayRef<Type> argTypes,
                                    SymbolTable &symbols);
  /// The same for a lora.linear_grad: one launcher per kernel; `savedT`, if
  /// any, is the forward's t, read instead of launching lora_down.
  void rewriteGrad(GradCandidate &c, StringRef name, Value savedT,
                   SymbolTable &symbols);

  /// A launcher and the kernels it launches: a forward's (`kernel` empty:
  /// lora_down's variants `first`, if any, then the main kernel's `second`,
  /// x's rows or a branch input's read by lora_down) or one kernel of a
  /// backward (`kernel`, its variants `second`).
  struct SharedLauncher {
    StringRef kernel;
    SmallVector<GemmKernelSpec> first, second;
    bool hasBranch = false;
    func::FuncOp launcher;
  };
  /// The launcher built for `key`'s kernels if an op before has the same
  /// (a model's layers of one shape: one gpu.module and launcher for all),
  /// else the one `build` makes, kept for the ops after.
  func::FuncOp getOrBuildLauncher(SharedLauncher key,
                                  function_ref<func::FuncOp()> build) {
    for (const SharedLauncher &built : shared)
      if (built.kernel == key.kernel && built.first == key.first &&
          built.second == key.second && built.hasBranch == key.hasBranch)
        return built.launcher;
    key.launcher = build();
    shared.push_back(std::move(key));
    return shared.back().launcher;
  }
  std::vector<SharedLauncher> shared;
};

} // namespace

/// Builds `mains`' kernels (and `downs`', a LoRA layer's lora_down) in
/// gpu.module `moduleName` and their launcher on memrefs of `argTypes` (x,
/// w[, a, b[, bias][, branch], t], y); with reference launchers, only the
/// launcher, which computes their results with linalg.
func::FuncOp GenerateCudaKernelsPass::buildForwardLauncher(
    OpBuilder &builder, Location loc, StringRef moduleName,
    ArrayRef<GemmKernelSpec> downs, ArrayRef<GemmKernelSpec> mains,
    bool hasBranch, ArrayRef<Type> argTypes, SymbolTable &symbols) {
  const GemmKernelSpec &main = mains.front();
  // The kernels, in a gpu.module of their own (none for reference
  // launchers).
  std::string name = moduleName.str();
  SmallVector<cuda::GemmKernel> downKernels, mainKernels;
  if (!referenceLaunchers) {
    auto kernels = gpu::GPUModuleOp::create(builder, loc, moduleName);
    symbols.insert(kernels);
    name = kernels.getName().str();
    if (!downs.empty())
      downKernels =
          cuda::buildGemmKernels(builder, loc, kernels, "lora_down", downs);
    mainKernels = cuda::buildGemmKernels(
        builder, loc, kernels,
        main.kind == GemmKind::Matmul ? "matmul" : "lora_linear", mains);
  }
  // Launches a kernel (the variant for m), or computes what it would.
  auto launch = [&](ArrayRef<cuda::GemmKernel> kernels,
                    const GemmKernelSpec &spec, ValueRange memrefs, Value m,
                    Value batch = {}) {
    if (referenceLaunchers)
      cuda::buildGemmReference(builder, loc, spec, memrefs);
    else
      cuda::buildGemmLaunch(builder, loc, kernels, memrefs, m, batch);
  };

  builder.setInsertionPointToEnd(getOperation().getBody());
  func::FuncOp launcher =
      createLauncher(builder, loc, name + "_launch", argTypes, symbols);
  OpBuilder::InsertionGuard guard(builder);
  Block *body = &launcher.front();
  builder.setInsertionPointToStart(body);
  ValueRange args = body->getArguments();
  Value m = memref::DimOp::create(builder, loc, args[0], main.batched ? 1 : 0);
  if (main.kind == GemmKind::LoraLinear) {
    // x (or the branch input), a -> t; a fused LoraLinear computes t
    // itself and stores it.
    Value branch = hasBranch ? args[args.size() - 3] : args[0];
    if (!downs.empty())
      launch(downKernels, downs.front(),
             {branch, args[2], args[args.size() - 2]}, m);
    SmallVector<Value> mainArgs{args[0], args[1]};
    if (main.fuseDown)
      mainArgs.push_back(args[2]);
    mainArgs.append({args[args.size() - 2], args[3]});
    if (main.hasBias)
      mainArgs.push_back(args[4]);
    mainArgs.push_back(args.back());
    launch(mainKernels, main, mainArgs, m);
  } else {
    Value batch = main.batched ? memref::DimOp::create(builder, loc, args[0], 0)
                               : Value();
    launch(mainKernels, main, args, m, batch);
  }
  func::ReturnOp::create(builder, loc);
  return launcher;
}

void GenerateCudaKernelsPass::rewrite(Candidate &c, StringRef moduleName,
                                      SymbolTable &symbols) {
  ModuleOp module = getOperation();
  // Multicast and a direct epilogue where the tiling allows them
  // (chooseGemmTilings).
  c.main.multicast = multicast;
  c.main.directEpilogue = directEpilogue;
  c.main.persistentCtas = persistent;
  // t inside the main kernel (fuse-lora-down), where the branch reads the
  // layer's own x (no dropout) and the kernel can.
  if (fuseLoraDown && c.main.kind == GemmKind::LoraLinear && !c.branch)
    fuseDownWherePossible(c.main, c.main.scale);
  // One tiling for a static row count, else one kernel per tiling that
  // some M gets, launched by M.
  SmallVector<GemmKernelSpec> mains =
      cuda::chooseGemmTilings(c.main, tileN, maxStages, getStaticRows(c.x));
  c.main = mains.front();
  // A LoRA layer's lora_down likewise: one variant per number of CTAs its K
  // is split over (none for a plain matmul).
  SmallVector<GemmKernelSpec> downs;
  if (c.main.kind == GemmKind::LoraLinear && !c.main.fuseDown)
    downs = cuda::chooseGemmTilings(cuda::getLoraDownProblem(c.main), 0,
                                    maxStages, getStaticRows(c.x));
  bool isLoraLayer = c.main.kind == GemmKind::LoraLinear;

  // The launcher: x, w[, a, b[, bias][, branch], t], y as device memrefs,
  // each with a leading batch dim in a batched kernel.
  Type elem = c.main.elementType;
  int64_t dyn = ShapedType::kDynamic;
  bool batched = c.main.batched;
  auto memref = [&](ArrayRef<int64_t> shape, Type type) {
    SmallVector<int64_t> full;
    if (batched)
      full.push_back(dyn);
    full.append(shape.begin(), shape.end());
    return MemRefType::get(full, type);
  };
  SmallVector<Type> argTypes{
      memref({dyn, c.main.k}, elem),
      c.main.transposedB
          ? memref({c.main.wRows ? c.main.wRows : c.main.n, c.main.k}, elem)
          : memref({c.main.k, c.main.n}, elem)};
  if (isLoraLayer) {
    argTypes.push_back(memref({c.main.k, c.main.rank}, elem));
    argTypes.push_back(memref({c.main.rank, c.main.n}, elem));
    if (c.main.hasBias)
      argTypes.push_back(memref({c.main.n}, elem));
    if (c.branch)
      argTypes.push_back(memref({dyn, c.main.k}, elem));
    argTypes.push_back(memref({dyn, c.main.rank}, elem));
  }
  argTypes.push_back(memref({dyn, c.main.n}, c.main.resultType));
  Location loc = c.op->getLoc();
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  // An earlier op with the same kernels (another layer of the same shape)
  // has built them and their launcher already.
  func::FuncOp launcher =
      getOrBuildLauncher({"", downs, mains, c.branch != nullptr, {}}, [&] {
        return buildForwardLauncher(builder, loc, moduleName, downs, mains,
                                    c.branch != nullptr, argTypes, symbols);
      });

  // The op itself (at its fused cast, after every operand).
  ImplicitLocOpBuilder b(loc, c.fusedCast ? c.fusedCast : c.op);
  auto xType = cast<RankedTensorType>(c.x.getType());
  auto yType = cast<RankedTensorType>(c.op->getResult(0).getType());
  if (c.fusedCast)
    yType = RankedTensorType::get(yType.getShape(), c.main.resultType);
  Value x = c.x, w = c.w, branch = c.branch;
  // A tosa.matmul's [1, K, N] weight.
  if (!batched && cast<RankedTensorType>(w.getType()).getRank() == 3)
    w = tensor::CollapseShapeOp::create(
        b, w, SmallVector<ReassociationIndices>{{0, 1}, {2}});
  SmallVector<ReassociationIndices> reassociation;
  if (!batched)
    reassociation = batchIntoRows(xType.getRank());
  if (!reassociation.empty()) {
    x = tensor::CollapseShapeOp::create(b, x, reassociation);
    if (branch)
      branch = tensor::CollapseShapeOp::create(b, branch, reassociation);
  }
  // A padded problem: x's columns to K, w's rows and columns to K and N
  // (N and K when it is read transposed, unless it has wRows), with zeros,
  // so that the padding adds nothing to the products.
  bool padded = c.unpaddedN != 0;
  if (padded) {
    x = padMatrix(b, x, ShapedType::kDynamic, c.main.k);
    if (!c.main.transposedB)
      w = padMatrix(b, w, c.main.k, c.main.n);
    else if (!c.main.wRows)
      w = padMatrix(b, w, c.main.n, c.main.k);
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
                              toBuffer(w, cast<MemRefType>(argTypes[1]))};
  if (isLoraLayer) {
    operands.push_back(toBuffer(c.a, cast<MemRefType>(argTypes[2])));
    operands.push_back(toBuffer(c.b, cast<MemRefType>(argTypes[3])));
    if (c.bias)
      operands.push_back(toBuffer(c.bias, cast<MemRefType>(argTypes[4])));
    if (branch)
      operands.push_back(
          toBuffer(branch, cast<MemRefType>(argTypes[operands.size()])));
  }
  // The run-time sizes of t and y: [batch,] m.
  SmallVector<Value> sizes;
  if (batched)
    sizes.push_back(memref::DimOp::create(b, operands[0], 0));
  sizes.push_back(memref::DimOp::create(b, operands[0], batched ? 1 : 0));
  // Plain allocations, not freed here: lora-cuda-device-memory puts every
  // buffer of the host code in device memory and frees it after its last
  // use.
  auto alloc = [&](Type type) -> Value {
    return memref::AllocOp::create(b, cast<MemRefType>(type), sizes);
  };
  Value t;
  if (isLoraLayer) {
    t = alloc(argTypes[argTypes.size() - 2]);
    operands.push_back(t);
  }
  Value y = alloc(argTypes.back());
  operands.push_back(y);
  func::CallOp::create(b, launcher, operands);
  if (c.keepT) {
    auto tType = cast<MemRefType>(t.getType());
    c.savedT = bufferization::ToTensorOp::create(
        b, RankedTensorType::get(tType.getShape(), tType.getElementType()), t,
        b.getUnitAttr());
  }
  auto yBufferType = cast<MemRefType>(argTypes.back());
  Value result = bufferization::ToTensorOp::create(
      b, RankedTensorType::get(yBufferType.getShape(), c.main.resultType), y,
      b.getUnitAttr(), b.getUnitAttr());
  // A padded problem's columns of y past N go.
  int64_t n = padded ? c.unpaddedN : c.main.n;
  if (n != c.main.n) {
    SmallVector<OpFoldResult> sliceSizes =
        tensor::getMixedSizes(b, loc, result);
    sliceSizes.back() = b.getIndexAttr(n);
    SmallVector<OpFoldResult> offsets(sliceSizes.size(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(sliceSizes.size(), b.getIndexAttr(1));
    result =
        tensor::ExtractSliceOp::create(b, result, offsets, sliceSizes, strides);
  }
  // Static rows again where x had them, then the batch dims (a batched
  // kernel's result gets its static sizes from the cast to yType).
  int64_t rows = cast<RankedTensorType>(x.getType()).getDimSize(0);
  if (!batched && !ShapedType::isDynamic(rows))
    result = tensor::CastOp::create(
        b, RankedTensorType::get({rows, n}, c.main.resultType), result);
  if (!reassociation.empty())
    result = tensor::ExpandShapeOp::create(
        b, RankedTensorType::get(yType.getShape(), yType.getElementType()),
        result, reassociation);
  if (result.getType() != yType)
    result = tensor::CastOp::create(b, yType, result);
  IRRewriter rewriter(b);
  // The transpose whose input a tosa.matmul's kernel reads as stored goes
  // with the matmul when nothing else reads it.
  Operation *transpose = nullptr;
  if (auto matmul = dyn_cast<tosa::MatMulOp>(c.op))
    transpose = matmul.getB().getDefiningOp<tosa::TransposeOp>();
  auto eraseTranspose = [&] {
    if (transpose && transpose->use_empty())
      rewriter.eraseOp(transpose);
  };
  if (!c.fusedCast) {
    rewriter.replaceOp(c.op, result);
    eraseTranspose();
    return;
  }
  Type castType = c.fusedCast->getResult(0).getType();
  if (auto reshape = dyn_cast_or_null<tosa::ReshapeOp>(c.castReshape))
    result = tosa::ReshapeOp::create(
        b,
        RankedTensorType::get(
            cast<RankedTensorType>(reshape.getType()).getShape(),
            c.main.resultType),
        result, reshape.getShape());
  if (result.getType() != castType)
    result = tensor::CastOp::create(b, castType, result);
  rewriter.replaceOp(c.fusedCast, result);
  if (c.castReshape)
    rewriter.eraseOp(c.castReshape);
  rewriter.eraseOp(c.op);
  eraseTranspose();
}

/// An f32 matrix a dx kernel adds dB or dA into, rounded to `elem` (and
/// transposed: dB [r, N] from dBᵀ [N, r]): one elementwise op, a generic
/// GPU kernel.
static Value roundToElementType(OpBuilder &b, Value sum, Type elem,
                                bool transpose) {
  Location loc = sum.getLoc();
  auto type = cast<RankedTensorType>(sum.getType());
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> shape(type.getShape());
  if (transpose)
    std::swap(shape[0], shape[1]);
  Value init = tensor::EmptyOp::create(b, loc, shape, elem);
  AffineExpr i = getAffineDimExpr(0, ctx), j = getAffineDimExpr(1, ctx);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{sum}, ValueRange{init},
             ArrayRef<AffineMap>{
                 AffineMap::get(2, 0, {transpose ? j : i, transpose ? i : j},
                                ctx),
                 AffineMap::get(2, 0, {i, j}, ctx)},
             SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value rounded = arith::TruncFOp::create(nb, l, elem, args[0]);
               linalg::YieldOp::create(nb, l, rounded);
             })
      .getResult(0);
}

/// Sets device buffer `memref` to `zero` with a gpu.memset in async form on
/// a fresh token, the form gpu-to-llvm lowers (lora-cuda-stream-order puts
/// it on the caller's stream).
static void zeroOnDevice(OpBuilder &b, Location loc, Value memref, Value zero) {
  auto token = gpu::AsyncTokenType::get(b.getContext());
  Value ready = gpu::WaitOp::create(b, loc, token, ValueRange()).getResult(0);
  Value done =
      gpu::MemsetOp::create(b, loc, token, ValueRange{ready}, memref, zero)
          .getAsyncToken();
  gpu::WaitOp::create(b, loc, Type(), ValueRange{done});
}

/// A private host function `name` that launches one of `kernels` (the
/// variants of `spec`'s kernel) on memrefs, one per tensor-map parameter of
/// `spec` (the token count is the size of the first dynamic dim among them),
/// or computes its result with linalg when there are no kernels.
static func::FuncOp buildLauncher(OpBuilder &builder, Location loc,
                                  StringRef name,
                                  ArrayRef<cuda::GemmKernel> kernels,
                                  const GemmKernelSpec &spec,
                                  SymbolTable &symbols) {
  SmallVector<cuda::TensorMapParam> params = cuda::getGemmKernelParams(spec);
  SmallVector<Type> argTypes;
  for (const cuda::TensorMapParam &param : params)
    argTypes.push_back(MemRefType::get(param.dims, param.elementType));
  func::FuncOp launcher = createLauncher(builder, loc, name, argTypes, symbols);
  OpBuilder::InsertionGuard guard(builder);
  Block *body = &launcher.front();
  builder.setInsertionPointToStart(body);
  Value tokens;
  for (auto [param, arg] : llvm::zip(params, body->getArguments())) {
    auto it = llvm::find_if(param.dims, ShapedType::isDynamic);
    if (it != param.dims.end()) {
      tokens = memref::DimOp::create(builder, loc, arg,
                                     std::distance(param.dims.begin(), it));
      break;
    }
  }
  // The dx kernel that computes dB (dA) adds its parts into db (da): zeroed
  // first, on the device (so for no tokens too) or, by a reference
  // launcher, on the host.
  for (auto [param, arg] : llvm::zip(params, body->getArguments())) {
    if (param.role != "db" && param.role != "da")
      continue;
    Value zero = arith::ConstantOp::create(builder, loc, builder.getF32Type(),
                                           builder.getF32FloatAttr(0));
    if (kernels.empty())
      linalg::FillOp::create(builder, loc, ValueRange{zero}, ValueRange{arg});
    else
      zeroOnDevice(builder, loc, arg, zero);
  }
  if (kernels.empty()) {
    // A reference launcher: the kernel's math in linalg (zero for no
    // tokens, too).
    cuda::buildGemmReference(builder, loc, spec, body->getArguments());
    func::ReturnOp::create(builder, loc);
    return launcher;
  }
  cuda::buildGemmLaunch(builder, loc, kernels, body->getArguments(), tokens);
  // A weight gradient over no tokens is zero; the kernel does not run then.
  if (ShapedType::isDynamic(spec.k)) {
    Value none =
        arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq, tokens,
                              arith::ConstantIndexOp::create(builder, loc, 0));
    scf::IfOp::create(builder, loc, none, [&](OpBuilder &b, Location l) {
      Value zero = arith::ConstantOp::create(b, l, spec.resultType,
                                             b.getZeroAttr(spec.resultType));
      zeroOnDevice(b, l, body->getArguments().back(), zero);
      scf::YieldOp::create(b, l);
    });
  }
  func::ReturnOp::create(builder, loc);
  return launcher;
}

void GenerateCudaKernelsPass::rewriteGrad(GradCandidate &c,
                                          StringRef moduleName, Value savedT,
                                          SymbolTable &symbols) {
  ModuleOp module = getOperation();
  lora::LinearGradOp op = c.op;
  Location loc = op.getLoc();

  // The kernels and their launchers (no kernels for reference launchers),
  // in a gpu.module made for the first kernel that no op before has.
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  gpu::GPUModuleOp kernels;
  std::string prefix = moduleName.str();
  // dt = scale·g·Bᵀ inside lora_input_grad (fuse-lora-down), where dx has
  // the LoRA term (no dropout branch) and the kernel can: no lora_t_grad,
  // and lora_input_grad stores dt for lora_a_grad.
  auto isNamed = [](StringRef want) {
    return [want](const auto &kernel) { return kernel.first == want; };
  };
  auto *inputGrad = llvm::find_if(c.kernels, isNamed("lora_input_grad"));
  bool fusedTGrad =
      fuseLoraDown && inputGrad != c.kernels.end() &&
      inputGrad->second.kind == GemmKind::LoraLinear &&
      fuseDownWherePossible(inputGrad->second, op.getScale().convertToDouble());
  // dB = tsᵀ·g inside that lora_input_grad too (fuse-lora-b-grad): no
  // lora_b_grad; it adds into an f32 dBᵀ, transposed and rounded after.
  bool fusedBGrad = fusedTGrad && fuseLoraBGrad;
  if (fusedBGrad)
    inputGrad->second.fuseBGrad = true;
  // And dA = xᵀ·dt (fuse-lora-a-grad): no lora_a_grad; it adds into an f32
  // dA, rounded after.
  bool fusedAGrad = fusedBGrad && fuseLoraAGrad;
  if (fusedAGrad)
    inputGrad->second.fuseAGrad = true;
  if (fusedTGrad)
    c.kernels.erase(llvm::find_if(c.kernels, isNamed("lora_t_grad")));
  if (fusedBGrad)
    c.kernels.erase(llvm::find_if(c.kernels, isNamed("lora_b_grad")));
  if (fusedAGrad)
    c.kernels.erase(llvm::find_if(c.kernels, isNamed("lora_a_grad")));
  llvm::StringMap<func::FuncOp> launchers;
  for (auto &[name, problem] : c.kernels) {
    problem.multicast = multicast;
    problem.directEpilogue = directEpilogue;
    problem.persistentCtas = persistent;
    SmallVector<GemmKernelSpec> variants = cuda::chooseGemmTilings(
        problem, 0, maxStages, getStaticRows(op.getInput()));
    // (A structured binding is captured only from C++20.)
    StringRef kernel = name;
    launchers[kernel] =
        getOrBuildLauncher({kernel, {}, variants, false, {}}, [&] {
          SmallVector<cuda::GemmKernel> built;
          if (!referenceLaunchers) {
            if (!kernels) {
              builder.setInsertionPointToEnd(module.getBody());
              kernels = gpu::GPUModuleOp::create(builder, loc, moduleName);
              symbols.insert(kernels);
              prefix = kernels.getName().str();
            }
            built =
                cuda::buildGemmKernels(builder, loc, kernels, kernel, variants);
          }
          builder.setInsertionPointToEnd(module.getBody());
          return buildLauncher(builder, loc,
                               (prefix + "_" + kernel + "_launch").str(), built,
                               variants.front(), symbols);
        });
  }

  // The op: token-major operands as [M, D] matrices, one call per kernel.
  ImplicitLocOpBuilder b(loc, op);
  auto xType = cast<RankedTensorType>(op.getInput().getType());
  SmallVector<ReassociationIndices> reassociation =
      batchIntoRows(xType.getRank());
  auto matrix = [&](Value tensor) -> Value {
    if (reassociation.empty())
      return tensor;
    return tensor::CollapseShapeOp::create(b, tensor, reassociation);
  };
  Value x = matrix(op.getInput()), g = matrix(op.getResultGrad());
  Value xl = op.getLoraInput() ? matrix(op.getLoraInput()) : x;
  Value tokens = tensor::DimOp::create(b, x, 0);
  // Launches `name` on `inputs` (tensors; a null one is an output of the
  // kernel, as is the last parameter) and returns its outputs as tensors,
  // in parameter order.
  auto launch = [&](StringRef name,
                    ArrayRef<Value> inputs) -> SmallVector<Value> {
    func::FuncOp launcher = launchers.lookup(name);
    FunctionType type = launcher.getFunctionType();
    SmallVector<Value> operands, buffers;
    auto output = [&](Type argType) {
      SmallVector<Value> dynamicSizes;
      if (cast<MemRefType>(argType).isDynamicDim(0))
        dynamicSizes.push_back(tokens);
      buffers.push_back(
          memref::AllocOp::create(b, cast<MemRefType>(argType), dynamicSizes));
      operands.push_back(buffers.back());
    };
    for (auto [input, argType] : llvm::zip(inputs, type.getInputs())) {
      if (!input) {
        output(argType);
        continue;
      }
      auto tensorType = cast<RankedTensorType>(input.getType());
      Value buffer = bufferization::ToBufferOp::create(
          b,
          MemRefType::get(tensorType.getShape(), tensorType.getElementType()),
          input, b.getUnitAttr());
      if (buffer.getType() != argType)
        buffer = memref::CastOp::create(b, argType, buffer);
      operands.push_back(buffer);
    }
    output(type.getInputs().back());
    func::CallOp::create(b, launcher, operands);
    SmallVector<Value> outputs;
    int64_t rows = cast<RankedTensorType>(x.getType()).getDimSize(0);
    for (Value out : buffers) {
      auto outType = cast<MemRefType>(out.getType());
      Value result = bufferization::ToTensorOp::create(
          b,
          RankedTensorType::get(outType.getShape(), outType.getElementType()),
          out, b.getUnitAttr(), b.getUnitAttr());
      // Static rows again where x has them.
      if (outType.isDynamicDim(0) && !ShapedType::isDynamic(rows))
        result = tensor::CastOp::create(
            b,
            RankedTensorType::get({rows, outType.getDimSize(1)},
                                  outType.getElementType()),
            result);
      outputs.push_back(result);
    }
    return outputs;
  };
  // `matrix` ([M, D]) with the shape of `like`'s leading dims, as `type`.
  auto restore = [&](Value matrix, Value like, Type type) -> Value {
    if (!reassociation.empty()) {
      auto likeType = cast<RankedTensorType>(like.getType());
      SmallVector<int64_t> shape(likeType.getShape());
      shape.back() = cast<RankedTensorType>(matrix.getType()).getDimSize(1);
      matrix = tensor::ExpandShapeOp::create(
          b, RankedTensorType::get(shape, likeType.getElementType()), matrix,
          reassociation);
    }
    return matrix.getType() == type ? matrix
                                    : tensor::CastOp::create(b, type, matrix);
  };

  Value w = op.getWeight(), a = op.getLoraA(), bw = op.getLoraB();
  Value ts = savedT ? savedT : launch("lora_down", {xl, a}).back();
  // A fused lora_input_grad computes dt as it computes dx.
  // With dB (and dA) too: ts and the f32 dBᵀ (x and the f32 dA) after A,
  // the sums rounded after the launch.
  Type elem = cast<RankedTensorType>(w.getType()).getElementType();
  Value dt, dx, db, da;
  if (fusedTGrad) {
    SmallVector<Value> inputs{g, w, bw, Value(), a};
    if (fusedBGrad)
      inputs.append({ts, Value()});
    if (fusedAGrad)
      inputs.append({xl, Value()});
    SmallVector<Value> outputs = launch("lora_input_grad", inputs);
    dt = outputs.front();
    dx = outputs.back();
    if (fusedBGrad)
      db = roundToElementType(b, outputs[1], elem, /*transpose=*/true);
    if (fusedAGrad)
      da = roundToElementType(b, outputs[2], elem, /*transpose=*/false);
  } else {
    dt = launch("lora_t_grad", {g, bw}).back();
  }
  if (!db)
    db = launch("lora_b_grad", {ts, g}).back();
  if (!da)
    da = launch("lora_a_grad", {xl, dt}).back();
  auto castTo = [&](Value value, Type type) -> Value {
    if (value.getType() == type)
      return value;
    return tensor::CastOp::create(b, type, value);
  };
  // What an unused dx or dxl becomes: nothing reads it.
  auto unused = [&](Value like, Type type) -> Value {
    return castTo(tensor::EmptyOp::create(
                      b, tensor::getMixedSizes(b, loc, like),
                      cast<RankedTensorType>(like.getType()).getElementType()),
                  type);
  };
  Type dxType = op.getInputGrad().getType();
  SmallVector<Value> results;
  if (dx)
    results.push_back(restore(dx, op.getInput(), dxType));
  else if (!launchers.count("lora_input_grad"))
    results.push_back(unused(op.getInput(), dxType));
  else if (op.getLoraInput())
    results.push_back(restore(launch("lora_input_grad", {g, w}).back(),
                              op.getInput(), dxType));
  else
    results.push_back(restore(launch("lora_input_grad", {g, w, dt, a}).back(),
                              op.getInput(), dxType));
  results.push_back(castTo(da, op.getLoraAGrad().getType()));
  results.push_back(castTo(db, op.getLoraBGrad().getType()));
  if (Value branch = op.getLoraInput()) {
    Type dxlType = op.getLoraInputGrad().getType();
    results.push_back(launchers.count("lora_branch_grad")
                          ? restore(launch("lora_branch_grad", {dt, a}).back(),
                                    branch, dxlType)
                          : unused(branch, dxlType));
  }
  IRRewriter rewriter(b);
  rewriter.replaceOp(op, results);
}
