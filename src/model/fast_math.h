// e^x in float with arithmetic only (no libm call), so that a loop of it
// vectorizes: GELU and the softmaxes spend most of their time in exp, and
// libm's expf/tanhf are scalar calls, 10-20x slower per element than this.
//
// Method: x = n ln2 + r with n an integer and |r| <= ln2/2, so that
// e^x = 2^n e^r; e^r from its Taylor polynomial of degree 7 (truncation
// error below (ln2/2)^8 / 8! = 5e-9, under float's rounding), 2^n put
// straight into a float's exponent bits. ln2 is split in two (a short head
// whose product with n is exact, and the rest) so that r keeps its digits.
// Measured against libm's exp in double over [-87, 88] (tests/test_fast_math.cpp):
// relative error below 1e-7 (7.6e-8 measured, about one float ulp).
//
// Range: x is clamped to [-87, 88], so e^x stays a normal float (no
// infinities: e^88 = 1.65e38); a NaN stays NaN. The double version is libm's,
// clamped the same way, for the double-precision builds that check gradients.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

inline float exp_fast(float x) {
    // written as comparisons so that GCC makes vector min/max; a NaN fails
    // both and passes through
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    // round x / ln2 to the nearest integer: adding 1.5 * 2^23 pushes the
    // fraction out of the mantissa (round to nearest even), subtracting it
    // back leaves the integer
    const float round_magic = 12582912.0f;
    const float n = (x * 1.44269504088896341f + round_magic) - round_magic;
    const float ln2_head = 0.693359375f, ln2_tail = -2.12194440e-4f;
    const float r = (x - n * ln2_head) - n * ln2_tail;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2^n, n in [-126, 127]; a NaN x gives a NaN p, and n is replaced
    // so that the conversion to int is defined
    const int32_t bits = ((int32_t)(n == n ? n : 0.0f) + 127) << 23;
    float two_n;
    std::memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

// Clamped like the float one, to [-708, 709] (e^709 = 8.2e307, finite), so
// that GELU's backward never sees e = inf (inf * 0 would be NaN there).
inline double exp_fast(double x) {
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    return std::exp(x);
}
