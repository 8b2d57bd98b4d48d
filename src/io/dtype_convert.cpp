#include "io/dtype_convert.h"

#include <cmath>
#include <cstring>

#include "util/util.h"

static float float_from_bits(uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float f16_to_float(uint16_t bits) {
    const uint32_t sign = (uint32_t)(bits >> 15) << 31;
    const uint32_t exponent = (bits >> 10) & 0x1F;
    const uint32_t fraction = bits & 0x3FF;
    if (exponent == 0) {
        // zero or subnormal: fraction x 2^-24, which a float holds exactly
        // (binary32's normals reach down to 2^-126)
        const float magnitude = std::ldexp((float)fraction, -24);
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31)  // infinity (fraction 0) or NaN: all-ones exponent in binary32 too
        return float_from_bits(sign | 0x7F800000u | (fraction << 13));
    // normal: rebias the exponent (15 -> 127), widen the fraction (10 -> 23 bits)
    return float_from_bits(sign | ((exponent - 15 + 127) << 23) | (fraction << 13));
}

float bf16_to_float(uint16_t bits) { return float_from_bits((uint32_t)bits << 16); }

// One element's bytes as a T (unaligned-safe).
template <typename T>
static T load(const StTensor& t, size_t i) {
    T v;
    std::memcpy(&v, t.bytes.data() + i * sizeof(T), sizeof(T));
    return v;
}

double element_as_double(const StTensor& t, size_t i) {
    switch (t.dtype) {
        case Dtype::F32: return load<float>(t, i);
        case Dtype::F64: return load<double>(t, i);
        case Dtype::F16: return f16_to_float(load<uint16_t>(t, i));
        case Dtype::BF16: return bf16_to_float(load<uint16_t>(t, i));
        case Dtype::I32: return load<int32_t>(t, i);
        case Dtype::I64: return (double)load<int64_t>(t, i);
        case Dtype::U16: return load<uint16_t>(t, i);
        case Dtype::U8: return load<uint8_t>(t, i);
        case Dtype::U64: return (double)load<uint64_t>(t, i);
    }
    fail("invalid Dtype value " + std::to_string((int)t.dtype));
}

std::vector<double> tensor_as_doubles(const StTensor& t) {
    const size_t n = t.numel();
    if (t.bytes.size() != n * dtype_size(t.dtype))
        fail("tensor \"" + t.name + "\" holds " + std::to_string(t.bytes.size()) + " bytes, not the " +
             std::to_string(n * dtype_size(t.dtype)) + " its dtype and shape need");
    std::vector<double> out(n);
    for (size_t i = 0; i < n; i++) out[i] = element_as_double(t, i);
    return out;
}

bool dtype_is_integer(Dtype dtype) {
    switch (dtype) {
        case Dtype::I32: case Dtype::I64: case Dtype::U16: case Dtype::U8: case Dtype::U64: return true;
        case Dtype::F32: case Dtype::F64: case Dtype::F16: case Dtype::BF16: return false;
    }
    return false;
}
