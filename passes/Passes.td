//===- Passes.td - lora-opt passes -------------------------*- tablegen -*-===//

#ifndef LORA_PASSES_PASSES_TD
#define LORA_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertOnnxToTosa : Pass<"convert-onnx-to-tosa", "func::FuncOp"> {
  let summary = "Convert imported ONNX nodes to TOSA, arith and tensor ops";
  let description = [{
    Gives each `onnx.node` its meaning: one conversion per ONNX operator
    (grouped by family in passes/ConvertOnnxToTosa/), each producing TOSA ops
    with static shapes computed from the operands. Nodes whose operands are
    all constants and whose result is small (shape computations such as
    Shape → Gather → Concat → Reshape) fold to constants, so that once the
    inputs are static no shape arithmetic is left at run time.

    The pass first checks every node: each node whose operator or opset has
    no conversion is reported (node name, op type, opset), then the pass
    fails. A dynamic input dimension that a conversion needs is an error
    naming the input; specialize it with `--input-shape`.
  }];
  let dependentDialects = ["::mlir::tosa::TosaDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LoraMarkEntryPoints : Pass<"lora-mark-entry-points", "func::FuncOp"> {
  let summary = "Ask for C interfaces on public functions";
  let description = [{
    Sets `llvm.emit_c_interface` on every public function so that
    `convert-func-to-llvm` emits `_mlir_ciface_<name>`, which
    `lora-emit-entry-point` wraps.
  }];
}

def LoraCpuContractionLoopOrder
    : Pass<"lora-cpu-contraction-loop-order", "func::FuncOp"> {
  let summary = "Order contraction loops so the innermost loop is contiguous";
  let description = [{
    `convert-linalg-to-loops` emits a matmul as (m, n, k) with the reduction
    innermost, where B is read with stride N and the floating-point sum
    cannot be vectorized without reassociation. This pass generalizes every
    contraction and moves its reduction loops before the last parallel loop
    ((m, k, n) for a matmul), so the innermost loop walks B and C
    contiguously and LLVM vectorizes it exactly, without fast-math.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def LoraFuseElementwiseOps
    : Pass<"lora-fuse-elementwise-ops", "func::FuncOp"> {
  let summary = "Fuse elementwise producers where nothing is recomputed";
  let description = [{
    `linalg-fuse-elementwise-ops` with one difference: an elementwise
    producer is fused into its only user only when that user computes each
    producer element once, that is, when every loop the fused operand's
    indexing map leaves out has extent 1. Upstream also fuses into a
    contraction or a broadcasting read, which recomputes the producer for
    every step of the loops its operand does not depend on (a rotary
    embedding inside an attention matmul, 128 times per element).

    A `linalg.transpose` is folded into the linalg ops other than
    contractions that read it: they read its input through the permuted
    map instead (named ops are generalized for that).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LoraUntieInits : Pass<"lora-untie-inits", "func::FuncOp"> {
  let summary = "Give every later user of a shared fill or empty its own";
  let description = [{
    CSE merges identical constant `linalg.fill`s (zero accumulators) and
    `tensor.empty`s into one value that many ops use as their init;
    one-shot bufferization then gives it one buffer: a fill is copied for
    every writer but one, and an empty's buffer is reused by a later writer,
    which keeps it allocated from its first use to its last. This pass gives
    each user of a shared constant fill or empty but the first an init of
    its own, built right before the user, so that every accumulator
    bufferizes in place and every buffer lives only as long as its value.
    Run it just before `one-shot-bufferize`.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LoraShrinkBufferLifetimes
    : Pass<"lora-shrink-buffer-lifetimes", "func::FuncOp"> {
  let summary = "Allocate each buffer at its first use, free it after its last";
  let description = [{
    Upstream's ownership-based deallocation frees every buffer at the end of
    the block it was allocated in, so a compiled forward holds every
    activation of every layer until it returns. Run after
    `buffer-deallocation-pipeline`, this pass moves each `memref.alloc` right
    before the first op of its block that uses the buffer or a value that
    may hold its address (any result of such an op but a number), and the
    buffer's `memref.dealloc`
    right after the last one. Buffers that outlive their block (returned,
    yielded, used or freed in another block) and buffers freed more than
    once are left alone.
  }];
}

def LoraOutlineLoopNests : Pass<"lora-outline-loop-nests", "ModuleOp"> {
  let summary = "Move each top-level loop nest of a function into a function "
                "of its own";
  let description = [{
    A compiled model is one function: every op of the graph becomes a loop
    nest in the entry point's body, 418 of them in a two-layer bf16 Llama's
    train step. LLVM's loop passes are not linear in the loops of one
    function (IndVarSimplify took 80% of `opt -O1`'s 22 s on that train
    step), so the compile time grows faster than the model. This pass moves
    every top-level loop nest (an op with `LoopLikeOpInterface` directly in
    the function's body) of a function that has at least `min-loop-nests`
    of them into a private function of its own, `<function>_nest<i>`, and
    calls it in its place: the values the nest uses from outside become
    the callee's arguments, except constants, which are cloned into it (so
    that static trip counts stay static), and the nest's results become
    its results. The callees are internal and `noinline` once lowered to
    the LLVM dialect, so that LLVM optimizes each on its own; the memref
    arguments whose buffer the caller allocated and no other argument views
    are listed for `lora-apply-noalias-args` (LLVM knew those alias nothing
    while the nest was inline). Run on loops and memrefs, before the
    lowering to LLVM.

    Example:

    ```mlir
    func.func @f(%a: memref<4xf32>, %b: memref<4xf32>) {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %c1 = arith.constant 1 : index
      scf.for %i = %c0 to %c4 step %c1 { ... %a ... }
      scf.for %i = %c0 to %c4 step %c1 { ... %b ... }
      return
    }
    ```

    becomes `call @f_nest0(%a)`, `call @f_nest1(%b)` and two private
    functions, each with its own constants and loop.
  }];
  let options = [
    Option<"minLoopNests", "min-loop-nests", "unsigned", /*default=*/"2",
           "Outline only in functions with at least this many top-level "
           "loop nests">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def LoraApplyNoaliasArgs : Pass<"lora-apply-noalias-args", "ModuleOp"> {
  let summary = "Mark the outlined loop nests' own buffers `noalias`";
  let description = [{
    Runs on the LLVM dialect, after `convert-func-to-llvm`, which drops a
    memref argument's `llvm.noalias`. `lora-outline-loop-nests` names, in
    `lora.noalias_args` on each function it makes, the aligned pointers of
    the memref arguments whose buffer the caller allocated and no other
    argument views; this pass gives those arguments `llvm.noalias` and
    removes the list. A position that is not a pointer argument is an
    error.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def LoraCpuTruncateF64ToBF16
    : Pass<"lora-cpu-truncate-f64-to-bf16", "func::FuncOp"> {
  let summary = "Round f64 to bf16 through f32 (rounded to odd), exactly";
  let description = [{
    LLVM lowers an f64 -> bf16 `arith.truncf` on x86 to a call of
    `__truncdfbf2`, which the GCC 12 runtime lacks. This pass rounds the f64
    to f32 to odd (the f32 rounded to nearest, or its neighbour with an odd
    significand when that was inexact and even) and then to bf16 with a
    second `arith.truncf`, which `arith-expand` lowers: the same result as a
    direct conversion to nearest even.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def LoraCpuCopiesToLinalg : Pass<"lora-cpu-copies-to-linalg", "func::FuncOp"> {
  let summary = "Rewrite memref.copy as linalg.copy";
  let description = [{
    `finalize-memref-to-llvm` lowers a copy between non-contiguous memrefs
    (a concat writing into a strided subview, for instance) to a call to
    `memrefCopy` from MLIR's C runner utilities. Compiled models must not
    depend on that library, so every copy becomes a `linalg.copy`, which
    `convert-linalg-to-loops` turns into plain loops (LLVM recognizes the
    contiguous ones as memcpy). 0-d copies stay: they are contiguous, and
    the CUDA pipeline turns them into device copies.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def LoraEmitEntryPoint : Pass<"lora-emit-entry-point", "ModuleOp"> {
  let summary = "Add a packed C entry point for each public function";
  let description = [{
    Runs on the LLVM dialect after `llvm.emit_c_interface` wrappers exist.
    For every `_mlir_ciface_<name>` it adds `lora_entry_<name>(void **args)`
    that loads one memref descriptor pointer per argument from `args` and
    calls the C interface. The runtime calls every compiled function through
    this one signature, whatever its arity.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

//===----------------------------------------------------------------------===//
// LoRA
//===----------------------------------------------------------------------===//

// How lora-insert and lora-list-targets pick linear layers, with PEFT's
// LoraConfig meaning (target_modules, exclude_modules, r, lora_alpha, ...).
defvar LoraSelectionOptions = [
  ListOption<"targets", "targets", "std::string",
             "Module names to adapt: a name matches exactly or as a "
             "'.'-separated suffix (PEFT target_modules as a list)">,
  Option<"targetsRegex", "targets-regex", "std::string", /*default=*/"",
         "A regex that must match the whole module name (PEFT "
         "target_modules as a single string)">,
  ListOption<"exclude", "exclude", "std::string",
             "Module names not to adapt (exact or suffix match)">,
  Option<"excludeRegex", "exclude-regex", "std::string", /*default=*/"",
         "A regex; modules it fully matches are not adapted">,
  Option<"allLinear", "all-linear", "bool", /*default=*/"false",
         "Adapt every linear layer except the output head (PEFT "
         "'all-linear')">,
  Option<"rank", "rank", "int64_t", /*default=*/"8",
         "LoRA rank r (PEFT r)">,
  Option<"alpha", "alpha", "double", /*default=*/"8.0",
         "LoRA alpha (PEFT lora_alpha); the scale is alpha/r">,
  ListOption<"rankPattern", "rank-pattern", "std::string",
             "regex=rank entries; the first regex that matches a "
             "'.'-separated suffix of the module name sets its rank (PEFT "
             "rank_pattern)">,
  ListOption<"alphaPattern", "alpha-pattern", "std::string",
             "regex=alpha entries, like rank-pattern (PEFT alpha_pattern)">,
  Option<"rslora", "rslora", "bool", /*default=*/"false",
         "Scale by alpha/sqrt(r) instead of alpha/r (PEFT use_rslora)">,
  Option<"adapter", "adapter", "std::string", /*default=*/"",
         "A PEFT adapter directory (adapter_config.json + "
         "adapter_model.safetensors) that gives the modules, ranks, alphas "
         "and weights; not combined with the other selection options">
];

def LoraInsert : Pass<"lora-insert", "ModuleOp"> {
  let summary = "Add explicit LoRA branches to the chosen linear layers";
  let description = [{
    A linear layer is a `tosa.matmul` `[1, M, K] x [1, K, N]` whose right
    side is a constant weight (possibly reshaped, transposed or cast), the
    form `convert-onnx-to-tosa` gives ONNX MatMul and Gemm with a weight.
    Its module name comes from, in order: the exporter's name scope (the
    child of the op's name location), the node name path
    (`/model/layers.0/self_attn/q_proj/MatMul` names
    `model.layers.0.self_attn.q_proj`), the weight initializer's name
    without `.weight`, and else the node name.

    Each selected layer `y = x·W` becomes
    `y = x·W + s·(x·A)·B` written out in TOSA (two more matmuls, a mul by
    the scale and an add), with `A: [K, r]` and `B: [r, N]` new arguments of
    the function, named `base_model.model.<module>.lora_A.weight` and
    `...lora_B.weight` (`lora.param`) and holding their initial value
    (`lora.init`): B zero and A from `init`, or both from `adapter`.
    `lora-fuse` turns the branch into `lora.linear`.

    Errors: a rank of 0 or above min(K, N), alpha <= 0, a regex that does
    not compile, targets that match no layer (the closest module names are
    listed), an adapter whose modules or shapes do not fit the model.
  }];
  let options = LoraSelectionOptions # [
    Option<"init", "init", "std::string", /*default=*/"\"kaiming\"",
           "Initial A: 'kaiming' (PEFT's default: uniform in "
           "+-1/sqrt(K)), 'gaussian' (normal with std 1/r, as in the LoRA "
           "paper) or 'zeros' (A = 0 too); B is always zero">,
    Option<"seed", "seed", "uint64_t", /*default=*/"0",
           "Seed of the random initial A (per module, independent of "
           "layer order)">
  ];
  let dependentDialects = ["::mlir::tosa::TosaDialect"];
}

def LoraListTargets : Pass<"lora-list-targets", "ModuleOp"> {
  let summary = "Print every linear layer, its module name and shape";
  let description = [{
    Prints one line per linear layer (see `lora-insert`): module name,
    K x N, the ONNX node, and whether the selection options would adapt it
    (with rank, alpha and scale), so that targets can be picked before
    running `lora-insert`. Does not change the IR. With a `.onnx` input,
    `lora-opt` prints only this table.
  }];
  let options = LoraSelectionOptions;
}

def LoraFuse : Pass<"lora-fuse", "func::FuncOp"> {
  let summary = "Fuse explicit LoRA branches into lora.linear";
  let description = [{
    Rewrites `x·W + s·((x·A)·B)` (or `(s·(x·A))·B`), with an optional
    constant bias added to `x·W`, into one `lora.linear`: the branch that
    `lora-insert` writes, and the one a PEFT model exported unmerged to
    ONNX carries (MatMul, MatMul, Mul, Add, with reshapes, transposes and
    casts in between). Nothing is fused unless the two matmuls of the branch
    read the same `x` as the frozen one, the intermediate `x·A` has no other
    use, and the scale is a positive constant splat.
  }];
  let dependentDialects = ["::mlir::lora::LoraDialect",
                           "::mlir::tosa::TosaDialect"];
}

def LoraMerge : Pass<"lora-merge", "ModuleOp"> {
  let summary = "Fold LoRA branches into the frozen weights: W' = W + s·A·B";
  let description = [{
    For every `lora.linear` with a constant weight, computes
    `W' = W + s·A·B` in f64 (rounded once to the weight's type) and replaces
    the op by the plain matmul with `W'`, marked `lora.merged` (module,
    rank, scale) so that `lora-unmerge` can undo it. A and B come from
    `adapter` when given (matched by module name), else from the
    arguments' `lora.init`, else from constants. The arguments that are no
    longer used are removed.
  }];
  let options = [
    Option<"adapter", "adapter", "std::string", /*default=*/"",
           "A PEFT adapter directory with the weights to merge">
  ];
  let dependentDialects = ["::mlir::tosa::TosaDialect"];
}

def LoraUnmerge : Pass<"lora-unmerge", "ModuleOp"> {
  let summary = "Undo lora-merge: W = W' - s·A·B, back to lora.linear";
  let description = [{
    For every matmul marked `lora.merged`, subtracts `s·A·B` of the adapter
    (or of the `lora.init` recorded at merge) from the weight and rebuilds
    the `lora.linear` with A and B as named function arguments again.
  }];
  let options = [
    Option<"adapter", "adapter", "std::string", /*default=*/"",
           "The PEFT adapter directory that was merged">
  ];
  let dependentDialects = ["::mlir::lora::LoraDialect",
                           "::mlir::tosa::TosaDialect"];
}

def LoraAutodiff : Pass<"lora-autodiff", "ModuleOp"> {
  let summary = "Build a train step: a loss and its gradients for the LoRA parameters";
  let description = [{
    Clones the forward function `function` twice, appends a loss to its
    result number `output`, and builds:

    * `train-function(args..., [labels]) -> (loss, dL/dP for every LoRA
      parameter P)`, by reverse-mode differentiation with respect to the
      arguments that carry `lora.param` only: W and every other weight are
      frozen, so only the gradients that reach an A or a B are built (no dW,
      nothing through integer values such as embedding indices). The
      gradient of each op comes from its rule (GradientRules.cpp);
      `lora.linear` becomes one `lora.linear_grad`. The backward reads the
      forward's values where a rule needs them, so the forward is not
      recomputed.
    * `eval-function(args..., [labels]) -> loss`.

    The loss (an f32 0-d tensor; f64 for an f64 model) is one of:

    * `output`: the result itself, which must hold one float element;
    * `cross-entropy`: mean over the tokens of -log softmax(logits)[label],
      with logits `[..., V]` and a new `labels` argument `[...]` (i64);
      tokens whose label is `ignore-index` do not count (PyTorch's
      `cross_entropy`, so all-ignored labels give NaN like it);
    * `causal-lm`: cross-entropy with the shift of causal language models
      (transformers' `ForCausalLMLoss`): logits at position i predict the
      label at i + 1 along the sequence dim (the one before V);
    * `mse`: mean of (output - targets)² with a new `targets` argument of
      the output's type.

    The new results are named (`onnx.name`) `loss` and `<param>.grad`.

    With `dropout` > 0 (PEFT's `lora_dropout`), the train function's LoRA
    branches read `lora.dropout` of their layer's input (`lora.linear`'s
    `lora_input`), seeded by a new argument `dropout_seed: tensor<i64>`;
    each layer has its own stream: the position of its A among the LoRA
    parameter arguments. The backward regenerates the masks from the seed.
    The eval function has no dropout (the model in eval mode).

    Errors: no function `function`, no LoRA parameters, an `output` index
    out of range, a non-scalar output with `loss=output`, logits that the
    loss cannot take, and an op on the path from a LoRA parameter to the
    loss that has no gradient rule (named with its ONNX node).
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"main\"",
           "The forward function">,
    Option<"loss", "loss", "std::string", /*default=*/"\"output\"",
           "output, cross-entropy, causal-lm or mse">,
    Option<"output", "output", "unsigned", /*default=*/"0",
           "The result of the forward function that the loss reads">,
    Option<"ignoreIndex", "ignore-index", "int64_t", /*default=*/"-100",
           "Labels equal to this do not count (cross-entropy, causal-lm)">,
    Option<"trainFunction", "train-function", "std::string",
           /*default=*/"\"train_step\"",
           "Name of the function returning the loss and the gradients">,
    Option<"evalFunction", "eval-function", "std::string",
           /*default=*/"\"eval_step\"",
           "Name of the function returning the loss only (\"\" for none)">,
    Option<"dropout", "dropout", "double", /*default=*/"0.0",
           "LoRA dropout rate of the train step's branches, in [0, 1)">
  ];
  let dependentDialects = ["::mlir::lora::LoraDialect",
                           "::mlir::tosa::TosaDialect"];
}

def LoraOptimizer : Pass<"lora-optimizer", "ModuleOp"> {
  let summary = "Turn a train step's gradients into SGD or AdamW updates";
  let description = [{
    Rewrites `function` (lora-autodiff's train step, returning the loss and
    one gradient per LoRA parameter) into one optimizer step:

        train_step(args..., lr: tensor<f64>, [step: tensor<i64>], state...)
            -> (loss, new parameters..., new state...)

    with one `lora.adamw` (AdamW: `exp_avg`, `exp_avg_sq` per parameter,
    and the 1-based step number for the bias correction) or `lora.sgd`
    (SGD: `momentum_buffer` per parameter when momentum > 0) per parameter.
    The learning rate and the step are run-time inputs (`onnx.name` "lr"
    and "step"), so that schedules need no recompiling. State arguments
    carry `lora.state = "<param>.exp_avg"` (etc.) and start at zero. Each
    new value is returned under the name of the argument it replaces
    (`onnx.name` = the parameter's `lora.param` or the state's name): a
    runtime updates parameters and state in place by name.

    Defaults are those of transformers' `TrainingArguments` (what PEFT
    training uses): betas 0.9/0.999, eps 1e-8, weight decay 0.
  }];
  let options = [
    Option<"function", "function", "std::string",
           /*default=*/"\"train_step\"", "The train step to rewrite">,
    Option<"optimizer", "optimizer", "std::string", /*default=*/"\"adamw\"",
           "adamw or sgd">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "AdamW beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "AdamW beta2">,
    Option<"eps", "eps", "double", /*default=*/"1e-8", "AdamW epsilon">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.0",
           "Decoupled (AdamW) or L2 (SGD) weight decay">,
    Option<"momentum", "momentum", "double", /*default=*/"0.0",
           "SGD momentum">,
    Option<"nesterov", "nesterov", "bool", /*default=*/"false",
           "SGD Nesterov momentum">
  ];
  let dependentDialects = ["::mlir::lora::LoraDialect",
                           "::mlir::tosa::TosaDialect"];
}

def ConvertLoraToLinalg : Pass<"convert-lora-to-linalg", "func::FuncOp"> {
  let summary = "Lower lora.linear, lora.linear_grad and the optimizer ops to linalg";
  let description = [{
    `x·W`, `x·A` and `(x·A)·B` become `linalg.matmul`s on an `[M, K]` view
    of the input (`tensor.collapse_shape`; a rank-1 input is one row) into
    zero-filled inits, and one `linalg.generic` computes
    `x·W + s·(x·A)·B (+ bias)`; the result is expanded back to the input's
    leading dims. Types narrower than f32 (f16, bf16) accumulate in f32,
    `x·A` included, and are rounded once at the end of the generic.
    Dynamic dims are supported: sizes come from `tensor.dim`.
    `lora.linear_grad` becomes five contractions (`linalg.generic`s with
    the reduction innermost) with the same accumulation rule; `dx` is
    computed only when used. `lora.adamw` and `lora.sgd` become one
    elementwise `linalg.generic` each.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def LoraOutlineWeights : Pass<"lora-outline-weights", "ModuleOp"> {
  let summary = "Turn frozen weights into named function arguments";
  let description = [{
    Compiled artifacts load their weights at run time from `weights.bin`
    instead of embedding them in `model.so`. This pass makes that possible:
    every constant (`arith.constant`, `tosa.const`) of a public function
    that is not a splat, has an element type the runtime can pass other
    than i1 (f32, f64, f16, bf16, i8-i64, ui8), and
    holds at least `min-bytes` bytes becomes a new trailing argument of the
    function with
      - `lora.weight`: its name: `<module>.weight` for the weight of a
        linear layer or `lora.linear` (the PyTorch parameter name), else
        the ONNX initializer name from the location, else `weight_<n>`;
        names are made unique with a `_<n>` suffix;
      - `lora.init`: its value (the same attribute, so no bytes are copied).
    Functions that something calls keep their signatures.
  }];
  let options = [
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"256",
           "Constants smaller than this stay in the code">,
  ];
  let dependentDialects = ["::mlir::lora::LoraDialect"];
}

def LoraGenerateCudaKernels : Pass<"lora-generate-cuda-kernels", "ModuleOp"> {
  let summary = "Generate sm_90a tensor-core kernels for lora.linear and matmuls";
  let description = [{
    The CUDA target's kernel generator. Every `lora.linear`, every
    `tosa.matmul` `[1, M, K] x [1, K, N]` with a static right side and zero
    zero-points (the form ONNX MatMul and Gemm with a weight take: the
    layers LoRA does not adapt), every `tosa.matmul` `[B, M, K] x [B, K, N]`
    (the attention's batched matmuls: a batched kernel), where a `[0, 2, 1]`
    transpose of the right side is read as stored and a cast of the f32
    result to the operands' type, directly or after one reshape, is done by
    the kernel, and every `linalg.matmul` whose result is a fresh tensor
    (`tensor.empty` or a zero `linalg.fill`), on bf16 or f16 operands with
    K, N and the rank multiples of 8 (a `tosa.matmul` whose K or N is not
    runs on copies zero-padded to multiples of 8, its result sliced), gets
      - a `gpu.module @lora_kernels_<n>` with warp-specialized Hopper kernels
        (TMA, mbarrier pipeline, wgmma; lib/Target/CUDA/GemmKernel.cpp has
        the design): `lora_down` (t = scale·x·A) and `lora_linear`
        ([x | t]·[W ; B] + bias) for `lora.linear`, `matmul` otherwise. Each
        kernel carries its launch interface as JSON in `lora.abi`. Where M
        is known only at run time, a kernel comes in one variant per tiling
        that some M gets (`lora_linear_64x64`, ...; `rows` in `lora.abi`);
      - a private host function `@lora_kernels_<n>_launch` on memrefs
        (device buffers) that encodes the tensor maps and launches them (of
        each kernel the variant for M);
      - in place of the op: the operands as buffers, the result and the t
        workspace from `memref.alloc` (lora-cuda-device-memory later puts
        them in device memory), a call to the launcher, the result as a
        tensor again (leading batch dims are collapsed into M and restored).
    Every `lora.linear_grad` on such operands gets the backward's kernels
    (`lora_down`, `lora_t_grad`, `lora_b_grad`, `lora_a_grad`,
    `lora_input_grad`, `lora_branch_grad`; GenerateCudaKernels.cpp lists what
    each computes), one launcher `@lora_kernels_<n>_<kernel>_launch` each;
    where a `lora.linear` of the same input, A, rank and scale comes before
    it, it reads that op's t and has no `lora_down`.
    M (the rows of x) may be dynamic; K, N and the rank must be static. Ops
    that do not qualify are left alone. `tile-n` and `max-stages` override
    the tiling chosen from the shapes; `multicast=2` makes each pair of
    128-row tiles of a column a cluster that loads w once for both (TMA
    multicast), where the tiling allows it; `fuse-lora-down` computes t in
    lora_linear's tiles (rank at most 16) instead of a lora_down kernel, and
    dt = scale·g·Bᵀ in lora_input_grad's instead of `lora_t_grad`; with it,
    `fuse-lora-b-grad` computes dB = tsᵀ·g in lora_input_grad's tiles too
    (each adding its part into an f32 dBᵀ with a TMA reduce-add) instead of
    `lora_b_grad`, and with that `fuse-lora-a-grad` dA = xᵀ·dt as well,
    instead of `lora_a_grad`.
    With `reference-launchers` the call sites are the same but no kernel is
    built: each launcher computes the kernel's result with linalg on its
    memrefs (products summed in f32, converted once), for
    `--target=cuda-emulated`.
  }];
  let options = [
    Option<"tileN", "tile-n", "int64_t", /*default=*/"0",
           "Columns of the output tile: 64, 128, 192 or 256 (0: from N)">,
    Option<"maxStages", "max-stages", "int64_t", /*default=*/"0",
           "At most this many pipeline stages (0: as many as fit, up to 16)">,
    Option<"multicast", "multicast", "int64_t", /*default=*/"1",
           "CTAs of a cluster that share the w side's TMA loads, 1 or 2 "
           "(2: pairs of 128-row tiles, each loading half of w's boxes "
           "multicast to both; kept where the tiling allows)">,
    Option<"fuseLoraDown", "fuse-lora-down", "bool", /*default=*/"false",
           "A LoRA layer of rank at most 16 (no dropout branch) computes "
           "t = scale·x·A inside lora_linear, from the x tiles it loads "
           "anyway, and stores it: no lora_down kernel, no second read of x; "
           "its backward computes dt = scale·g·Bᵀ inside lora_input_grad "
           "likewise: no lora_t_grad">,
    Option<"fuseLoraBGrad", "fuse-lora-b-grad", "bool", /*default=*/"false",
           "With fuse-lora-down, lora_input_grad also computes dB = tsᵀ·g "
           "from the g tiles it loads anyway: each CTA adds its part into "
           "an f32 dBᵀ (zeroed by the launcher) with TMA reduce-adds, whose "
           "f32 sums land in no fixed order; no lora_b_grad kernel, no "
           "second read of g">,
    Option<"fuseLoraAGrad", "fuse-lora-a-grad", "bool", /*default=*/"false",
           "With fuse-lora-b-grad, lora_input_grad also computes dA = xᵀ·dt "
           "once dt is complete: each CTA loads its dx tile's block of x "
           "into its released stages and adds its part into an f32 dA "
           "(zeroed by the launcher) with TMA reduce-adds, in no fixed "
           "order; no lora_a_grad kernel">,
    Option<"directEpilogue", "direct-epilogue", "bool", /*default=*/"false",
           "The Matmul and LoraLinear kernels convert their accumulators in "
           "registers and write the output tile straight to shared memory "
           "for its TMA stores, without the f32 staging tile (kept where "
           "the tiling allows: not LoraDown, not a split kernel)">,
    Option<"persistent", "persistent", "int64_t", /*default=*/"0",
           "At most this many CTAs of a Matmul or LoraLinear kernel, each "
           "taking output tiles in turn with one pipeline across them, its "
           "output tile (a direct epilogue) in shared memory of its own, so "
           "that the next tile's loads overlap the last one's stores, and "
           "at most one per SM of the GPU it runs on (the launcher asks the "
           "runtime): 132 fills an H100 SXM or H200, and a larger count any "
           "GPU. 0: one CTA per tile. Kept where the tiling allows (no "
           "split, multicast, batch or bias)">,
    Option<"referenceLaunchers", "reference-launchers", "bool",
           /*default=*/"false",
           "Launchers compute what the kernels would with linalg on their "
           "memrefs, and no kernel is built (--target=cuda-emulated runs "
           "every call site of the kernels on the CPU this way)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect", "::mlir::gpu::GPUDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect", "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
    "::mlir::tosa::TosaDialect", "::mlir::vector::VectorDialect"];
}

def LoraCudaDeviceMemory : Pass<"lora-cuda-device-memory", "ModuleOp"> {
  let summary = "Put the host functions' buffers in device memory (CUDA target)";
  let description = [{
    For the CUDA target, after bufferization and kernel outlining: in every
    `func.func` of the module (the host code), each `memref.alloc` that is
    not returned is freed after the last op of its block that uses it or a
    view of it (host code is straight-line and its launches complete before
    they return; upstream's deallocation pipeline rejects `gpu.launch_func`),
    then `memref.alloc`/`dealloc` become `gpu.alloc`/`gpu.dealloc`, `memref.copy` becomes `gpu.memcpy`,
    and a constant read with `memref.get_global` is copied to device memory
    where it is read and freed after its last use; all in async form, waited
    for at once. Any other host op that reads or writes a buffer is an error
    that names it: buffers are in device memory, and the CPU cannot touch
    them.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def LoraDedupGpuModules : Pass<"lora-dedup-gpu-modules", "ModuleOp"> {
  let summary = "Keep one of the gpu.modules that are the same but for "
                "their name";
  let description = [{
    `gpu-kernel-outlining` makes a gpu.module of every `gpu.launch`, and a
    model's layers of one shape launch the same kernels: a two-layer
    Llama's train step has 171 of them, most of them copies. This pass
    erases every gpu.module that is the same as an earlier one but for its
    name (the same ops, attributes and kernels; locations aside) and points
    the launches (`gpu.launch_func @copy::@kernel`) at that one, so that
    each kernel is lowered and compiled to a cubin once. Run after
    `gpu-kernel-outlining`, before `gpu-module-to-binary`.

    Example:

    ```mlir
    gpu.launch_func @f_kernel::@f_kernel ...
    gpu.launch_func @f_kernel_0::@f_kernel ...
    gpu.module @f_kernel { gpu.func @f_kernel(...) kernel { A } }
    gpu.module @f_kernel_0 { gpu.func @f_kernel(...) kernel { A } }
    ```

    becomes

    ```mlir
    gpu.launch_func @f_kernel::@f_kernel ...
    gpu.launch_func @f_kernel::@f_kernel ...
    gpu.module @f_kernel { gpu.func @f_kernel(...) kernel { A } }
    ```
  }];
}

def LoraGpuModuleToBinary : Pass<"lora-gpu-module-to-binary", "ModuleOp"> {
  let summary = "Upstream's gpu-module-to-binary, with the gpu.modules "
                "compiled in parallel";
  let description = [{
    Upstream's `gpu-module-to-binary` serializes one gpu.module after the
    other; for the CUDA target each is LLVM's NVPTX backend and a `ptxas`
    process, 7.9 s of the 11.5 s that a two-layer bf16 Llama's train step
    takes to compile. This pass serializes them (each of its targets'
    `serializeToObject` and `createObject`) on the context's threads, as
    the pass manager runs nested passes (`--mlir-disable-threading` makes
    it serial), then replaces each gpu.module by its `gpu.binary`, in
    order, as upstream does: the objects are the same, byte for byte. The
    targets get no symbol table (a nested op may not see its parent's); the
    NVVM target does not use one.
  }];
  let options = [
    Option<"format", "format", "std::string", "\"bin\"",
           "The objects' format: offloading/llvm, assembly/isa, binary/bin "
           "or fatbinary/fatbin, as for gpu-module-to-binary">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def LoraCudaStreamOrder : Pass<"lora-cuda-stream-order", "ModuleOp"> {
  let summary = "Order the host's GPU work on one stream per block, waited "
                "for once (CUDA target)";
  let description = [{
    After `lora-cuda-device-memory`: the calls of private functions of one
    block (the launchers of `lora-generate-cuda-kernels`) are inlined; then
    in every block of every `func.func` of the module (the host code), the
    launches, allocations, copies, memsets and frees become one chain of
    async ops on one stream (one token threaded through them, each op
    depending on the one before), and the host waits once, before the first
    op that could observe the work or run beside it: the block's terminator
    or any op with memory effects (a call, an op with regions that holds a
    call or a launch; `nvgpu.tma.create.descriptor`, which reads only the
    buffer's address and shape, excepted). The launches in an `scf.if`
    that holds only GPU ops and ops without effects join the chain when it
    has work queued; any other op with regions has chains of its own in its
    blocks. The per-op waits of `lora-cuda-device-memory` and host waits for
    tokens of a chain merge into that one wait; the host waits for any
    other token before the op that depends on it.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def LoraCudaParallelDimsFirst
    : Pass<"lora-cuda-parallel-dims-first", "::mlir::func::FuncOp"> {
  let summary = "Put the parallel loops of every linalg op outermost "
                "(CUDA target)";
  let description = [{
    Before `convert-linalg-to-parallel-loops` on the CUDA target: every
    linalg op with a reduction loop before a parallel one is generalized and
    its loops interchanged, parallel loops first, each group in its order,
    so that it becomes one `scf.parallel` over its parallel loops with the
    reductions sequential inside (a sum over a middle dim would otherwise
    give an `scf.parallel` in an `scf.for` in an `scf.parallel`, which is
    tiled into blocks of threads at its inner loop only). Each element's
    sum is formed in the same order as before.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def LoraCudaCollapseParallelLoops
    : Pass<"lora-cuda-collapse-parallel-loops", "::mlir::func::FuncOp"> {
  let summary = "Collapse the dims of each outermost scf.parallel into one "
                "(CUDA target)";
  let description = [{
    Before the CUDA target tiles parallel loops into blocks of threads: the
    parallel dims of every outermost `scf.parallel` become one, in
    row-major order (the innermost dim varies fastest), so that tiling by
    one size gives full blocks on a 1-d grid, within the device's limits on
    block dims, for a loop of any rank and extents that holds no other
    `scf.parallel` (`lora-cuda-parallel-dims-first` sees to that for loops
    from linalg).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect"];
}

def LoraCudaEmulateOnHost : Pass<"lora-cuda-emulate-on-host", "ModuleOp"> {
  let summary = "Run the CUDA target's host code and generic kernels on the "
                "CPU (--target=cuda-emulated)";
  let description = [{
    In place of the NVVM lowering, after `lora-cuda-stream-order`: each
    kernel of the `gpu.module`s becomes a private `func.func` that takes the
    kernel's arguments and the grid and block sizes and runs the kernel's
    body once per thread, in loops over the blocks and the threads of a
    block (`gpu.block_id`, `thread_id`, `grid_dim` and `block_dim` become the
    loops' values); `gpu.launch_func` becomes a call of it, `gpu.alloc`
    `memref.alloc`, `gpu.memcpy` `memref.copy`, `gpu.dealloc`
    `memref.dealloc`; every element of a float buffer is set to NaN after
    its allocation and before its free, so that a read before the first
    write or after the free shows in the results. Waits and tokens are
    dropped: the host runs the work in program order (a missing dependency
    or a race between threads does not show). The `gpu.module`s are erased.
    A kernel whose threads synchronize or share memory (a barrier, a
    shuffle, workgroup memory, an nvgpu or NVVM op), or that uses a symbol
    or allocates on the stack, and a launch with clusters or dynamic shared
    memory, are errors that name them.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

#endif // LORA_PASSES_PASSES_TD
