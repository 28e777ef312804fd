//===- lora-translate.cpp - import and export of models -------------------===//

#include "lora/Export/OnnxExporter.h"
#include "lora/Import/OnnxImporter.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  mlir::lora::registerOnnxImportTranslation();
  mlir::lora::registerOnnxExportTranslation();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "lora-opt translation tool"));
}
