// Finite-difference gradient checking in double precision, shared by the
// layer and model tests.
//
// Central differences with step h = 1e-6 have truncation error O(h^2 f''')
// ~ 1e-12 and rounding error O(eps_machine * |f| / h) ~ 1e-10 for the O(1)
// losses used here, so analytic and numeric gradients must agree to
//     |analytic - numeric| <= 1e-6 * max(1, |numeric|)
// A wrong backward pass misses this bound by many orders of magnitude.
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

// Tiny test problems gain nothing from threads, and thousands of OpenMP
// fork/joins per check are slow on a busy machine: run them on one thread.
struct SingleThreaded {
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    SingleThreaded() { omp_set_num_threads(1); }
    ~SingleThreaded() { omp_set_num_threads(saved); }
#endif
};

constexpr double GRADCHECK_STEP = 1e-6;
constexpr double GRADCHECK_TOLERANCE = 1e-6;

// Checks analytic[i] against (f(x + h e_i) - f(x - h e_i)) / 2h for every i
// in `indices` (all of x when empty). f reads x through the pointer.
inline void check_gradient(const std::string& what, double* x, size_t n, const double* analytic,
                           const std::function<double()>& f, std::vector<size_t> indices = {}) {
    SingleThreaded single;
    (void)single;
    if (indices.empty())
        for (size_t i = 0; i < n; i++) indices.push_back(i);
    double worst = 0;
    size_t worst_i = 0;
    double worst_a = 0, worst_n = 0;
    for (size_t i : indices) {
        double saved = x[i];
        x[i] = saved + GRADCHECK_STEP;
        double fp = f();
        x[i] = saved - GRADCHECK_STEP;
        double fm = f();
        x[i] = saved;
        double numeric = (fp - fm) / (2 * GRADCHECK_STEP);
        double err = std::fabs(analytic[i] - numeric) / std::max(1.0, std::fabs(numeric));
        if (err > worst) {
            worst = err;
            worst_i = i;
            worst_a = analytic[i];
            worst_n = numeric;
        }
    }
    INFO(what << ": worst element " << worst_i << " analytic " << worst_a << " numeric " << worst_n
              << " scaled error " << worst);
    CHECK(worst <= GRADCHECK_TOLERANCE);
}

// A gradient that is zero everywhere would pass trivially against a loss
// that ignores the parameter; make sure the checked gradients are not all tiny.
inline double max_abs(const double* x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = std::max(m, std::fabs(x[i]));
    return m;
}
