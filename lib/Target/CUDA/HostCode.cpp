//===- HostCode.cpp - the CUDA target's host code in LLVM IR --------------===//
//
// What the CUDA target does to its host code after translation to LLVM IR
// (see include/lora/Target/CudaHostCode.h).
//
//===----------------------------------------------------------------------===//

#include "lora/Target/CudaHostCode.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/Module.h"

using namespace mlir;

/// The runtime calls whose pointer arguments point to memory read during the
/// call only (see shareCallArgumentMemory).
static bool readsArgumentsOnlyDuringCall(const llvm::CallInst &call) {
  const llvm::Function *callee = call.getCalledFunction();
  if (!callee)
    return false;
  llvm::StringRef name = callee->getName();
  return name == "mgpuLaunchKernel" || name == "mgpuLaunchClusterKernel" ||
         name == "mgpuTensorMapEncodeTiledMemref";
}

/// The call of readsArgumentsOnlyDuringCall that `alloca`'s memory is for,
/// or null: every use of the alloca (through GEPs) is a store into it, the
/// call's argument, or a store of its address into the memory of another
/// alloca for the same call (a launch's pointer array holds the addresses of
/// its argument struct's fields), all in one block before the call. `users`
/// gets every instruction that uses it.
static llvm::CallInst *callOfArgumentMemory(
    llvm::AllocaInst &alloca,
    llvm::DenseMap<llvm::AllocaInst *, llvm::CallInst *> &calls,
    llvm::SmallVectorImpl<llvm::Instruction *> &users) {
  if (auto found = calls.find(&alloca); found != calls.end())
    return found->second;
  calls[&alloca] = nullptr; // A cycle of stores gives up.
  llvm::CallInst *call = nullptr;
  auto agree = [&](llvm::CallInst *other) {
    if (!other || (call && call != other))
      return false;
    call = other;
    return true;
  };
  llvm::SmallVector<llvm::Value *> pointers = {&alloca};
  while (!pointers.empty()) {
    llvm::Value *pointer = pointers.pop_back_val();
    for (llvm::User *user : pointer->users()) {
      auto *instruction = llvm::dyn_cast<llvm::Instruction>(user);
      if (!instruction)
        return nullptr;
      users.push_back(instruction);
      if (auto *gep = llvm::dyn_cast<llvm::GetElementPtrInst>(instruction)) {
        if (gep->getPointerOperand() != pointer)
          return nullptr;
        pointers.push_back(gep);
        continue;
      }
      if (auto *store = llvm::dyn_cast<llvm::StoreInst>(instruction)) {
        if (store->getPointerOperand() == pointer &&
            store->getValueOperand() != pointer)
          continue;
        // Its address, stored into another alloca's memory: that alloca's.
        auto *target = llvm::dyn_cast<llvm::AllocaInst>(
            llvm::getUnderlyingObject(store->getPointerOperand()));
        llvm::SmallVector<llvm::Instruction *> ignored;
        if (!target || !agree(callOfArgumentMemory(*target, calls, ignored)))
          return nullptr;
        continue;
      }
      auto *callUser = llvm::dyn_cast<llvm::CallInst>(instruction);
      if (!callUser || !readsArgumentsOnlyDuringCall(*callUser) ||
          !agree(callUser))
        return nullptr;
    }
  }
  if (!call)
    return nullptr;
  for (llvm::Instruction *user : users)
    if (user != call &&
        (user->getParent() != call->getParent() || !user->comesBefore(call)))
      return nullptr;
  calls[&alloca] = call;
  return call;
}

unsigned lora::cuda::shareCallArgumentMemory(llvm::Module &module) {
  const llvm::DataLayout &layout = module.getDataLayout();
  unsigned replaced = 0;
  for (llvm::Function &function : module) {
    if (function.isDeclaration())
      continue;
    // The allocas of each call, in the order of the calls.
    llvm::DenseMap<llvm::AllocaInst *, llvm::CallInst *> calls;
    llvm::MapVector<llvm::CallInst *, llvm::SmallVector<llvm::AllocaInst *>>
        groups;
    llvm::DenseMap<llvm::AllocaInst *, llvm::Instruction *> firstUse;
    for (llvm::Instruction &instruction : llvm::instructions(function)) {
      auto *alloca = llvm::dyn_cast<llvm::AllocaInst>(&instruction);
      if (!alloca || !alloca->isStaticAlloca())
        continue;
      llvm::SmallVector<llvm::Instruction *> users;
      // Walked again if an earlier alloca's walk saw it: for its users.
      calls.erase(alloca);
      llvm::CallInst *call = callOfArgumentMemory(*alloca, calls, users);
      if (!call)
        continue;
      llvm::Instruction *first = call;
      for (llvm::Instruction *user : users)
        if (user->comesBefore(first))
          first = user;
      firstUse[alloca] = first;
      groups[call].push_back(alloca);
    }
    // A call's memory is live from its allocas' first use to the call: it
    // may share the buffer if that starts after the call before it in the
    // block.
    auto ordered = groups.takeVector();
    llvm::stable_sort(ordered, [](const auto &a, const auto &b) {
      llvm::BasicBlock *blockA = a.first->getParent();
      llvm::BasicBlock *blockB = b.first->getParent();
      if (blockA != blockB)
        return std::less<llvm::BasicBlock *>()(blockA, blockB);
      return a.first->comesBefore(b.first);
    });
    llvm::SmallVector<
        std::pair<llvm::CallInst *, llvm::SmallVector<llvm::AllocaInst *>>>
        shared;
    llvm::DenseMap<llvm::BasicBlock *, llvm::CallInst *> lastCall;
    for (auto &[call, allocas] : ordered) {
      llvm::CallInst *before = lastCall.lookup(call->getParent());
      bool disjoint = llvm::all_of(allocas, [&](llvm::AllocaInst *alloca) {
        return !before || before->comesBefore(firstUse[alloca]);
      });
      if (!disjoint)
        continue;
      lastCall[call->getParent()] = call;
      shared.emplace_back(call, allocas);
    }
    if (shared.empty())
      continue;
    // Each call's allocas at increasing offsets of the buffer.
    uint64_t size = 0;
    llvm::Align align(16);
    llvm::DenseMap<llvm::AllocaInst *, uint64_t> offsets;
    for (auto &[call, allocas] : shared) {
      uint64_t end = 0;
      for (llvm::AllocaInst *alloca : allocas) {
        uint64_t offset = llvm::alignTo(end, alloca->getAlign());
        offsets[alloca] = offset;
        end = offset + *alloca->getAllocationSize(layout);
        align = std::max(align, alloca->getAlign());
      }
      size = std::max(size, end);
    }
    llvm::IRBuilder<> builder(&*function.getEntryBlock().getFirstInsertionPt());
    llvm::AllocaInst *buffer =
        builder.CreateAlloca(llvm::ArrayType::get(builder.getInt8Ty(), size),
                             nullptr, "call_arguments");
    buffer->setAlignment(align);
    for (auto &[call, allocas] : shared)
      for (llvm::AllocaInst *alloca : allocas) {
        builder.SetInsertPoint(alloca);
        llvm::Value *slice = builder.CreateConstInBoundsGEP1_64(
            builder.getInt8Ty(), buffer, offsets[alloca]);
        alloca->replaceAllUsesWith(slice);
        alloca->eraseFromParent();
        ++replaced;
      }
  }
  return replaced;
}

unsigned lora::cuda::copyConstantsThroughRuntime(llvm::Module &module) {
  llvm::Function *copy = module.getFunction("mgpuMemcpy");
  if (!copy)
    return 0;
  llvm::FunctionCallee cached = module.getOrInsertFunction(
      "loraCudaCopyConstant", copy->getFunctionType());
  unsigned rewritten = 0;
  for (llvm::User *user : llvm::make_early_inc_range(copy->users())) {
    auto *call = llvm::dyn_cast<llvm::CallInst>(user);
    if (!call || call->getCalledFunction() != copy)
      continue;
    auto *source = llvm::dyn_cast<llvm::GlobalVariable>(
        llvm::getUnderlyingObject(call->getArgOperand(1)));
    if (!source || !source->isConstant())
      continue;
    call->setCalledFunction(cached);
    ++rewritten;
  }
  return rewritten;
}
