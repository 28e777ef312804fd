//===- FloatConversion.cpp - f16 / bf16 <-> float and double --------------===//
//
// lib/Adapter has the same conversions on float, but it links LLVM, which the
// runtime must not; these take a double so that an adapter's B scaled in
// double is rounded once, not through float.
//
//===----------------------------------------------------------------------===//

#include "lora/Runtime/Runtime.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace lora_runtime;

namespace {

uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float bitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/// Rounds a finite `value` to the nearest number with `precision`
/// significant bits and a unit exponent of at least `minExponent` (the
/// format's smallest normal exponent, so subnormals round on the subnormal
/// grid), ties to even. The result is exact in double; range is not checked.
double roundToPrecision(double value, int precision, int minExponent) {
  if (value == 0)
    return value;
  int exponent; // value = m * 2^exponent with 0.5 <= |m| < 1.
  std::frexp(value, &exponent);
  int quantum = std::max(exponent - 1, minExponent) - (precision - 1);
  // value / 2^quantum has at most `precision` integer bits plus a fraction;
  // scaling by a power of two and floor() are exact, so is the tie test.
  double scaled = std::ldexp(std::fabs(value), -quantum);
  double whole = std::floor(scaled);
  double rest = scaled - whole;
  if (rest > 0.5 || (rest == 0.5 && std::fmod(whole, 2) != 0))
    whole += 1;
  return std::copysign(std::ldexp(whole, quantum), value);
}

/// `value` rounded once to a format with `precision` significant bits,
/// smallest normal exponent `minExponent` and largest finite `maxFinite`,
/// as a float (every such value is one). Overflow gives infinity.
float roundToFormat(double value, int precision, int minExponent,
                    double maxFinite) {
  if (std::isnan(value) || std::isinf(value))
    return static_cast<float>(value);
  double rounded = roundToPrecision(value, precision, minExponent);
  if (std::fabs(rounded) > maxFinite)
    return value < 0 ? -std::numeric_limits<float>::infinity()
                     : std::numeric_limits<float>::infinity();
  return static_cast<float>(rounded); // Exact.
}

} // namespace

float lora_runtime::halfToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0) // Zero or subnormal: mantissa * 2^-24, exact in float.
    return bitsToFloat(sign |
                       floatBits(static_cast<float>(mantissa) * 0x1p-24f));
  if (exponent == 0x1f) // Infinity or NaN (payload kept).
    return bitsToFloat(sign | 0x7f800000u | (mantissa << 13));
  // Rebias the exponent from 15 to 127.
  return bitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

float lora_runtime::bfloat16ToFloat(uint16_t bits) {
  return bitsToFloat(static_cast<uint32_t>(bits) << 16);
}

uint16_t lora_runtime::doubleToHalf(double value) {
  uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  if (std::isnan(value))
    return sign | 0x7e00;
  float rounded = roundToFormat(value, 11, -14, 65504.0);
  uint32_t bits = floatBits(rounded) & 0x7fffffff;
  if (bits == 0x7f800000)
    return sign | 0x7c00;
  if (bits < 0x38800000) // Below 2^-14: a subnormal half, k * 2^-24.
    return sign | static_cast<uint16_t>(std::fabs(rounded) * 0x1p24f);
  // Normal: rebias the exponent from 127 to 15; the 13 dropped mantissa
  // bits are zero because `rounded` is a half.
  return sign | static_cast<uint16_t>((bits - 0x38000000) >> 13);
}

uint16_t lora_runtime::doubleToBFloat16(double value) {
  if (std::isnan(value))
    return (std::signbit(value) ? 0x8000 : 0) | 0x7fc0;
  // bf16 has float's exponent range; the dropped 16 bits are zero.
  return static_cast<uint16_t>(
      floatBits(roundToFormat(value, 8, -126, 0x1.fep127)) >> 16);
}

bool lora_runtime::isFloatDType(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F64 || dtype == DType::F16 ||
         dtype == DType::BF16;
}

void lora_runtime::storeFloat(double value, DType dtype, void *out) {
  switch (dtype) {
  case DType::F64:
    std::memcpy(out, &value, sizeof(value));
    return;
  case DType::F32: {
    // Values that are floats already (most adapters) need no rounding.
    float rounded = static_cast<float>(value);
    if (static_cast<double>(rounded) != value && !std::isnan(value))
      rounded =
          roundToFormat(value, 24, -126, std::numeric_limits<float>::max());
    std::memcpy(out, &rounded, sizeof(rounded));
    return;
  }
  case DType::F16: {
    uint16_t bits = doubleToHalf(value);
    std::memcpy(out, &bits, sizeof(bits));
    return;
  }
  case DType::BF16: {
    uint16_t bits = doubleToBFloat16(value);
    std::memcpy(out, &bits, sizeof(bits));
    return;
  }
  default:
    return; // Not a float type; callers check isFloatDType().
  }
}
