// A safetensors tensor's elements as numbers, whatever its dtype: what
// `lrt compare` needs to hold a PyTorch user's F16 or BF16 file against our
// F32 reference. Every conversion is exact (each F16, BF16, F32 and integer
// of up to 53 bits is a double) except I64 and U64 magnitudes above 2^53,
// which round to the nearest double.
#pragma once
#include <cstdint>
#include <vector>

#include "io/safetensors.h"

// IEEE binary16 (1 sign, 5 exponent, 10 fraction bits) to float: normals,
// subnormals, signed zeros, infinities and NaNs (payload kept in the top
// fraction bits, quiet bit as given).
float f16_to_float(uint16_t bits);

// bfloat16 is the upper half of a binary32: the same sign and exponent,
// 7 fraction bits. Exact by construction.
float bf16_to_float(uint16_t bits);

// Element `i` (flat, row-major) of `t` as a double; i < t.numel().
double element_as_double(const StTensor& t, size_t i);

// All of `t`'s elements as doubles, in row-major order.
std::vector<double> tensor_as_doubles(const StTensor& t);

// Whether the dtype holds integers (token ids): `lrt compare` requires
// those to be equal, not close.
bool dtype_is_integer(Dtype dtype);
