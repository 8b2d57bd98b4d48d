// A small deterministic random number generator (xoshiro256**, seeded by
// splitmix64). We use our own instead of <random> so that the state is four
// plain integers we can save in a checkpoint and so that the stream is the
// same on every compiler and standard library.
#pragma once
#include <cmath>
#include <cstdint>

struct Rng {
    uint64_t s[4];

    explicit Rng(uint64_t seed = 0) { reseed(seed); }

    void reseed(uint64_t seed) {
        uint64_t x = seed;
        for (auto& v : s) {  // splitmix64 spreads any seed (even 0) over the state
            x += 0x9E3779B97F4A7C15ull;
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            v = z ^ (z >> 31);
        }
    }

    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    uint64_t next_u64() {
        uint64_t result = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0); }

    // Uniform integer in [0, n), n > 0 (multiply-shift; bias < n / 2^64).
    uint64_t below(uint64_t n) { return (uint64_t)(((unsigned __int128)next_u64() * n) >> 64); }

    // Standard normal by Box-Muller. No cached second value, so the state is
    // fully described by s[] and a checkpoint needs nothing else.
    double normal() {
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
};
