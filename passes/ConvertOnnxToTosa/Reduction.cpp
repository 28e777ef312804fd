//===- Reduction.cpp - reductions and normalizations to TOSA --------------===//

#include "OnnxToTosa.h"

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

void onnx_to_tosa::addReductionConverters(
    SmallVectorImpl<Converter> &converters) {}
