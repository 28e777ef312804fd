//===- DeduplicateSymbols.cpp - one copy of identical symbols -------------===//

#include "DeduplicateSymbols.h"

#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"

using namespace mlir;

/// `op`'s attributes, inherent and discardable, without its symbol name.
static DictionaryAttr getAttrsWithoutName(Operation *op) {
  NamedAttrList attrs(op->getAttrDictionary());
  attrs.erase(SymbolTable::getSymbolAttrName());
  return attrs.getDictionary(op->getContext());
}

/// A hash that ops the same but for their name share: of the op's name and
/// attributes, and of every op nested in it without its operands' and
/// results' identities or its location.
static llvm::hash_code hashWithoutName(Operation *op) {
  llvm::hash_code hash =
      llvm::hash_combine(op->getName(), getAttrsWithoutName(op));
  op->walk([&](Operation *nested) {
    if (nested != op)
      hash = llvm::hash_combine(
          hash, OperationEquivalence::computeHash(
                    nested, OperationEquivalence::ignoreHashValue,
                    OperationEquivalence::ignoreHashValue,
                    OperationEquivalence::IgnoreLocations));
  });
  return hash;
}

static bool isSameButName(Operation *lhs, Operation *rhs) {
  if (lhs->getName() != rhs->getName() ||
      lhs->getNumRegions() != rhs->getNumRegions() ||
      getAttrsWithoutName(lhs) != getAttrsWithoutName(rhs))
    return false;
  for (auto [lhsRegion, rhsRegion] :
       llvm::zip(lhs->getRegions(), rhs->getRegions()))
    if (!OperationEquivalence::isRegionEquivalentTo(
            &lhsRegion, &rhsRegion, OperationEquivalence::IgnoreLocations))
      return false;
  return true;
}

int64_t lora::deduplicateSymbols(ArrayRef<Operation *> symbols,
                                 Operation *symbolTable) {
  // The ops kept, by hash; the erased ones' names and the names they take.
  llvm::DenseMap<size_t, SmallVector<Operation *, 1>> kept;
  llvm::DenseMap<StringAttr, StringAttr> renamed;
  SmallVector<Operation *> erased;
  for (Operation *op : symbols) {
    SmallVector<Operation *, 1> &same = kept[hashWithoutName(op)];
    auto *it = llvm::find_if(
        same, [&](Operation *other) { return isSameButName(other, op); });
    if (it == same.end()) {
      same.push_back(op);
      continue;
    }
    renamed[SymbolTable::getSymbolName(op)] = SymbolTable::getSymbolName(*it);
    erased.push_back(op);
  }
  if (erased.empty())
    return 0;
  // One walk for all the references (SymbolTable::replaceAllSymbolUses
  // walks the whole table for each symbol), not into nested symbol tables,
  // whose references name their own symbols.
  AttrTypeReplacer replacer;
  replacer.addReplacement([&](SymbolRefAttr ref) -> std::optional<Attribute> {
    StringAttr name = renamed.lookup(ref.getRootReference());
    if (!name)
      return std::nullopt;
    return SymbolRefAttr::get(name, ref.getNestedReferences());
  });
  for (Operation *op : erased)
    op->erase();
  symbolTable->walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (op != symbolTable && op->hasTrait<OpTrait::SymbolTable>())
      return WalkResult::skip();
    replacer.replaceElementsIn(op, /*replaceAttrs=*/true, /*replaceLocs=*/false,
                               /*replaceTypes=*/false);
    return WalkResult::advance();
  });
  return erased.size();
}
