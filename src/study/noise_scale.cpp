#include "study/noise_scale.h"

#include <cmath>

#include "util/util.h"

NoiseEstimate two_batch_estimate(double sq_small, double sq_big, double b_small, double b_big) {
    if (!(b_small > 0 && b_big > b_small)) fail("two_batch_estimate: needs 0 < b_small < b_big");
    NoiseEstimate e;
    e.g2 = (b_big * sq_big - b_small * sq_small) / (b_big - b_small);
    e.trace = (sq_small - sq_big) / (1 / b_small - 1 / b_big);
    return e;
}

void NoiseEma::add(const NoiseEstimate& e) {
    g2 = kDecay * g2 + (1 - kDecay) * e.g2;
    trace = kDecay * trace + (1 - kDecay) * e.trace;
    count++;
}

NoiseEstimate NoiseEma::smoothed() const {
    NoiseEstimate s;
    if (count == 0) return s;
    const double correction = 1 - std::pow(kDecay, (double)count);
    s.g2 = g2 / correction;
    s.trace = trace / correction;
    return s;
}

double NoiseEma::b_simple() const {
    const NoiseEstimate s = smoothed();
    return s.g2 > 0 ? s.trace / s.g2 : NAN;
}
