// The matmul layer: naive reference loops and a cache-blocked, packed GEMM.
//
// Blocking scheme (Goto & van de Geijn, "Anatomy of high-performance matrix
// multiplication"; the scheme of BLIS, written here for row-major C). For
// C = alpha op(A) op(B) + beta C with op(A) (M,K) and op(B) (K,N):
//
//   for each panel of op(B) (all of it for the layers of a small model)
//     pack the panel as NR-wide slivers                        shared, <= 8 MiB: L3
//     for each work unit (a block of C's rows x columns)       split over threads
//       for jc over the unit's columns in steps of NC          B block KC x NC: L2
//         for pc over the panel's rows in steps of KC
//           for each MR-row sliver of the unit
//             pack op(A)[sliver rows, pc:pc+KC]                A sliver MR x KC: L1
//             for each NR-column sliver of the B block
//               micro-kernel: the MR x NR tile of C in registers, KC rank-1
//               updates (per k: MR broadcast A values, 2 B vectors, 2*MR FMAs)
//
// Packing copies the operands into the order the kernel reads them, so it
// reads both with unit stride whatever the transposes and leading dimensions
// (no cache-set conflicts from power-of-two strides), and edge slivers are
// padded with zeros so the kernel loop has no special cases.
//
// Block sizes come from the register file and the caches:
//  - MR x NR: as many accumulators as the registers hold, leaving room for the
//    two B vectors and the broadcast A value (12x2 zmm = 24 of 32 with
//    AVX-512, 6x2 ymm = 12 of 16 with AVX, 4x2 xmm = 8 of 16 with SSE). The
//    B block streams from L2 at two vector loads per k, shared by MR rows, so
//    a taller tile needs less of L2's bandwidth per FMA: 12 rows instead of 8
//    made the d=512 weight-gradient products about a third faster here
//    (14 rows measured the same as 12, and needs a bigger A sliver).
//  - KC: an A sliver (MR x KC) fits in L1 beside the B data streaming past it
//    (24 KiB of a 32 or 48 KiB L1 with AVX-512; 15 or 16 KiB with AVX or SSE). A
//    large KC also means that C, which lives in L3 or memory, is read and
//    written only once per KC. KC is also the only block size that orders the
//    sums (the K blocks are added one after another), so it is fixed per
//    vector width: 512 floats with AVX-512, as before MR grew from 8 to 12.
//  - NC: a B block (KC x NC) is half of the core's L2, read from the system
//    at run time (1 MiB when it does not say). Every NC columns of C the A
//    slivers are packed again from memory, so NC should be as large as the
//    L2 allows (this machine has 2 MiB per core, twice what a fixed 1 MiB
//    assumed). NC decides only which columns are computed together,
//    never the order of any sum, so results do not depend on it. The block is
//    reused by every A sliver of the unit.
//
// Threads: they meet only twice per B panel (after packing it, after the last
// unit); in between each takes one work unit at a time and packs its own A
// slivers, so a thread slowed by another process delays nobody.
//
// Determinism: threads split only C, never K. Each element of C gets its
// K-block partial sums in pc order, each from the same kernel in the same k
// order, and edge tiles go through the same arithmetic as full ones, so the
// result is bitwise independent of the number of threads and of how C is cut
// into work units. The block sizes depend only on the type and the
// compile-time vector width.

#include "model/matmul.h"

#include "model/profile.h"
#include "util/thread_buffer.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
constexpr int kMR = 12;
constexpr int kKCBytes = 2048;  // KC = 512 floats, 256 doubles
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
constexpr int kMR = 6;
constexpr int kKCBytes = 2560;  // 640 floats: a 15 KiB sliver
#else
// 16-byte vectors: SSE2 on any x86-64, NEON on ARM; GCC lowers them to
// scalars on a target without vectors, which is slow but correct.
constexpr int kVectorBytes = 16;
constexpr int kMR = 4;
constexpr int kKCBytes = 4096;  // 1024 floats: a 16 KiB sliver
#endif

// The L2 size per core, from the system (glibc reads CPUID), else 1 MiB.
int l2_bytes() {
    static const int bytes = [] {
        const long b = sysconf(_SC_LEVEL2_CACHE_SIZE);
        return b >= (256 << 10) && b <= (64 << 20) ? (int)b : (1 << 20);
    }();
    return bytes;
}
constexpr size_t kPackedBBytes = 8 << 20;

template <typename T>
struct Blocking {
    typedef T Vec __attribute__((vector_size(kVectorBytes)));
    static constexpr int kLanes = kVectorBytes / (int)sizeof(T);
    static constexpr int MR = kMR;
    static constexpr int NR = 2 * kLanes;
    static constexpr int KC = kKCBytes / (int)sizeof(T);
    static int NC() { return std::max(NR, l2_bytes() / 2 / (KC * (int)sizeof(T)) / NR * NR); }
};

// Whether gemm may start a team of threads: not when we are already inside
// one (the caller parallelises an outer loop), and not for products so small
// that waking the threads costs more than the work.
bool use_threads(double flops) {
#ifdef _OPENMP
    // the level counts a team of one too (omp_in_parallel() does not)
    return omp_get_level() == 0 && flops >= (1 << 20);
#else
    (void)flops;
    return false;
#endif
}

// Packs rows [i0, i0+m) and columns [p0, p0+kc) of op(A) (an MR-tall sliver,
// m <= MR) into Ap as (kc, MR): Ap[k*MR + i] = op(A)[i0+i][p0+k]. Rows past m
// are zero. op(A) has M rows.
//
// A is read straight from where it lives (L3 or memory), a piece per row, in
// patterns the hardware prefetcher follows poorly; without the software
// prefetches below, packing took 10-20% of the time of a d=256 layer.
template <typename T>
void pack_A_sliver(T* Ap, bool transA, const T* A, int lda, int M, int i0, int m, int p0, int kc) {
    constexpr int MR = Blocking<T>::MR;
    constexpr int kLine = 64 / (int)sizeof(T);  // elements per cache line
    if (transA) {  // op(A)[i][k] = A[k][i]: each k gives MR contiguous values
        // Fetch 64 rows ahead, and the start of what the next sliver will want.
        constexpr int kAhead = 64;
        const int ahead_col = i0 + MR < M ? MR : 0;
        for (int k = 0; k < kc; ++k) {
            const T* src = A + (size_t)(p0 + k) * lda + i0;
            if (k + kAhead < kc) __builtin_prefetch(src + (size_t)kAhead * lda + ahead_col);
            T* dst = Ap + (size_t)k * MR;
            if (m == MR) {
                std::memcpy(dst, src, sizeof(T) * MR);
            } else {
                for (int i = 0; i < m; ++i) dst[i] = src[i];
                for (int i = m; i < MR; ++i) dst[i] = T(0);
            }
        }
    } else if (m == MR) {  // op(A)[i][k] = A[i][k]: MR rows, each contiguous along k
        // k outside and a fixed MR inside lets GCC vectorise the transpose.
        // Meanwhile fetch the next sliver's rows, a line of each per kLine
        // steps, so the requests are spread out and never queue up.
        const T* src = A + (size_t)i0 * lda + p0;
        const bool next = i0 + 2 * MR <= M;
        for (int k = 0; k < kc; ++k) {
            if (next && k % kLine == 0)
#pragma GCC unroll 16
                for (int i = MR; i < 2 * MR; ++i) __builtin_prefetch(src + (size_t)i * lda + k);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) Ap[(size_t)k * MR + i] = src[(size_t)i * lda + k];
        }
    } else {  // the last, partial sliver
        for (int i = 0; i < m; ++i) {
            const T* src = A + (size_t)(i0 + i) * lda + p0;
            for (int k = 0; k < kc; ++k) Ap[(size_t)k * MR + i] = src[k];
        }
        for (int i = m; i < MR; ++i)
            for (int k = 0; k < kc; ++k) Ap[(size_t)k * MR + i] = T(0);
    }
}

// [begin, end): part `part` of `parts` equal shares of n items.
void share(int n, int part, int parts, int* begin, int* end) {
    *begin = (int)((long)n * part / parts);
    *end = (int)((long)n * (part + 1) / parts);
}

// Packs the panel op(B)[p0:p0+kk, j0:j0+nc] into Bp as NR-wide slivers, each
// (kk, NR): Bp[s*kk*NR + k*NR + j] = op(B)[p0+k][j0 + s*NR + j], zero past
// column nc. The kernel then reads KC rows of a sliver contiguously. This
// call packs share `part` of `parts` (the threads of a team each pack one,
// then meet at a barrier); packing moves data and never changes a result.
template <typename T>
void pack_B_panel(T* Bp, bool transB, const T* B, int ldb, int p0, int kk, int j0, int nc, int part,
                  int parts) {
    constexpr int NR = Blocking<T>::NR;
    const int slivers = (nc + NR - 1) / NR;
    int begin, end;
    if (transB) {  // op(B)[k][j] = B[j][k]: read rows of B along k
        // In steps of 128 k, so that the NR rows being interleaved write into
        // a 16 KiB (float) patch of the sliver that stays in L1.
        constexpr int kStep = 128;
        share(slivers, part, parts, &begin, &end);
        for (int s = begin; s < end; ++s) {
            T* dst = Bp + (size_t)s * kk * NR;
            const int n = std::min(NR, nc - s * NR);
            for (int k0 = 0; k0 < kk; k0 += kStep) {
                const int k1 = std::min(kk, k0 + kStep);
                for (int j = 0; j < n; ++j) {
                    const T* src = B + (size_t)(j0 + s * NR + j) * ldb + p0;
                    for (int k = k0; k < k1; ++k) dst[(size_t)k * NR + j] = src[k];
                }
                for (int j = n; j < NR; ++j)
                    for (int k = k0; k < k1; ++k) dst[(size_t)k * NR + j] = T(0);
            }
        }
    } else {  // op(B)[k][j] = B[k][j]: read rows of B along j, in row order
        share(kk, part, parts, &begin, &end);
        for (int k = begin; k < end; ++k) {
            const T* src = B + (size_t)(p0 + k) * ldb + j0;
            for (int s = 0; s < slivers; ++s) {
                T* dst = Bp + (size_t)s * kk * NR + (size_t)k * NR;
                const int n = std::min(NR, nc - s * NR);
                std::memcpy(dst, src + s * NR, sizeof(T) * n);
                for (int j = n; j < NR; ++j) dst[j] = T(0);
            }
        }
    }
}

// The micro-kernel. Ap is a packed (kc, MR) A sliver, Bp a packed (kc, NR) B
// sliver; C points at an (m, n) tile (m <= MR, n <= NR) with row stride ldc;
// bias is nullptr or n values added to every row:
//     C = alpha * (Ap^T Bp) + beta * C + bias      (beta == 0: C is not read)
// The MR x NR accumulators are plain local arrays of vectors; with the loops
// over i and the two halves fully unrolled GCC keeps them all in registers.
// Kept out of line: inlined into the loop nest, the kernel had to share the
// registers with it and ran ~25% slower (GCC 12, Zen 4); a call per tile
// costs nothing next to the tile's 2*MR*NR*kc flops.
template <typename T>
__attribute__((noinline)) void micro_kernel(int kc, const T* Ap, const T* Bp, T* C, int ldc, int m,
                                            int n, T alpha, T beta, const T* bias) {
    using Vec = typename Blocking<T>::Vec;
    constexpr int MR = Blocking<T>::MR, NR = Blocking<T>::NR, L = Blocking<T>::kLanes;

    // C is far away (L3 or memory) and only needed after the k loop: ask for
    // it now so that the loads overlap the arithmetic.
    for (int i = 0; i < m; ++i) {
        __builtin_prefetch(C + (size_t)i * ldc, 1);
        __builtin_prefetch(C + (size_t)i * ldc + n - 1, 1);
    }

    Vec acc[MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = Vec{};

    for (int k = 0; k < kc; ++k) {
        const T* a = Ap + (size_t)k * MR;
        const T* b = Bp + (size_t)k * NR;
        // The B sliver comes from L2; the hardware prefetcher alone left the
        // kernel waiting on these loads (perf), so ask for the lines 16 k
        // ahead (2 KiB with AVX-512). Reads past the sliver's end only fetch a line.
        __builtin_prefetch(b + 16 * NR);
        __builtin_prefetch(b + 16 * NR + L);
        Vec b0, b1;
        std::memcpy(&b0, b, sizeof(Vec));
        std::memcpy(&b1, b + L, sizeof(Vec));
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            acc[i][0] += b0 * a[i];
            acc[i][1] += b1 * a[i];
        }
    }

    // An edge tile goes through a full-size copy, so that every element of C
    // is updated by the same vector arithmetic wherever it sits.
    const bool full = m == MR && n == NR;
    alignas(64) T edge[MR][NR];
    T* c = C;
    int ldt = ldc;
    if (!full) {
        c = &edge[0][0];
        ldt = NR;
        std::memset(edge, 0, sizeof(edge));
        if (beta != T(0))
            for (int i = 0; i < m; ++i) std::memcpy(edge[i], C + (size_t)i * ldc, sizeof(T) * n);
    }
    Vec bias_h[2] = {};
    if (bias) {
        alignas(64) T padded[NR] = {};
        std::memcpy(padded, bias, sizeof(T) * n);
        std::memcpy(bias_h, padded, sizeof(bias_h));
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            T* ch = c + (size_t)i * ldt + h * L;
            Vec r = acc[i][h] * alpha;
            if (beta != T(0)) {
                Vec old;
                std::memcpy(&old, ch, sizeof(Vec));
                r += old * beta;
            }
            if (bias) r += bias_h[h];
            std::memcpy(ch, &r, sizeof(Vec));
        }
    }
    if (!full)
        for (int i = 0; i < m; ++i) std::memcpy(C + (size_t)i * ldc, edge[i], sizeof(T) * n);
}

// C = beta * C + bias for an (M, N) C, bias (N) or nullptr; beta == 0 writes
// without reading C.
template <typename T>
void scale_matrix(T* C, int ldc, int M, int N, T beta, const T* bias) {
    for (int i = 0; i < M; ++i) {
        T* c = C + (size_t)i * ldc;
        for (int j = 0; j < N; ++j)
            c[j] = (beta != T(0) ? c[j] * beta : T(0)) + (bias ? bias[j] : T(0));
    }
}

// One work unit: rows [r0, r1) of C (r0 a multiple of MR) times slivers
// [s0, s1) of the packed B panel op(B)[p0:p0+kk, j0:...]. This is the jc / pc
// / ir / jr nest of the blocking scheme, with Ap this thread's A sliver
// buffer. beta and bias apply on the first K block of the whole product.
template <typename T>
void compute_unit(T* Ap, bool transA, const T* A, int lda, int M, const T* Bp, int p0, int kk,
                  int r0, int r1, int s0, int s1, int j0, int N, T alpha, T beta, T* C, int ldc,
                  const T* bias) {
    constexpr int MR = Blocking<T>::MR, NR = Blocking<T>::NR;
    constexpr int KC = Blocking<T>::KC;
    const int NC = Blocking<T>::NC();
    for (int sb0 = s0; sb0 < s1; sb0 += NC / NR) {  // one L2-sized B block at a time
        const int sb1 = std::min(s1, sb0 + NC / NR);
        for (int pc = 0; pc < kk; pc += KC) {
            const int kc = std::min(KC, kk - pc);
            // Later K blocks add on to what the first one wrote.
            const bool first = p0 + pc == 0;
            const T beta_here = first ? beta : T(1);
            const T* bias_here = first ? bias : nullptr;
            for (int i = r0; i < r1; i += MR) {
                const int m = std::min(MR, r1 - i);
                pack_A_sliver(Ap, transA, A, lda, M, i, m, p0 + pc, kc);
                for (int sb = sb0; sb < sb1; ++sb) {
                    const int j = j0 + sb * NR;
                    micro_kernel(kc, Ap, Bp + (size_t)sb * kk * NR + (size_t)pc * NR,
                                 C + (size_t)i * ldc + j, ldc, m, std::min(NR, N - j), alpha,
                                 beta_here, bias_here ? bias_here + j : nullptr);
                }
            }
        }
    }
}

// gemm with an optional bias (N) added to every row of C:
//     C = alpha * op(A) op(B) + beta * C + bias
// op(A) is (M,K), op(B) is (K,N), C is (M,N). Adding the bias as C is written
// saves the linear layer a pass over its output.
template <typename T>
void gemm_with_bias(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                    const T* B, int ldb, T beta, T* C, int ldc, const T* bias) {
    constexpr int MR = Blocking<T>::MR, NR = Blocking<T>::NR;
    constexpr int KC = Blocking<T>::KC;
    const int NC = Blocking<T>::NC();
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == T(0)) {  // nothing to add: BLAS semantics, A and B unread
        scale_matrix(C, ldc, M, N, beta, bias);
        return;
    }

    // B is packed a panel at a time, so that the threads meet only twice per
    // panel. A panel is all of K and as many columns as fit kPackedBBytes, but
    // at least NC (fewer would mean repacking A for every few columns); when K
    // is so long that NC columns do not fit, it is a range of K, a multiple
    // of KC so that the K blocks fall where they would without panels.
    const int all_cols = (N + NR - 1) / NR * NR;
    const int fit_cols = (int)std::min<size_t>(kPackedBBytes / ((size_t)K * sizeof(T)), all_cols);
    const int panel_cols = std::min(all_cols, std::max(NC, fit_cols / NR * NR));
    const size_t fit_rows = kPackedBBytes / ((size_t)panel_cols * sizeof(T));
    const int panel_rows = fit_rows >= (size_t)K ? K : std::max(KC, (int)(fit_rows / KC * KC));
    // The packed panel, one buffer per calling thread (util/thread_buffer.h).
    T* Bp = thread_buffer<T, ThreadBufferSlot::PackedB>((size_t)panel_rows * panel_cols);

    if (!use_threads(2.0 * M * N * K)) {
        // On this thread alone: the same panels and tiles, but no OpenMP
        // construct. Inside a caller's parallel loop (attention runs one
        // head per thread) each construct would open a team of one; for
        // attention's small products that took a quarter of its time
        // (d=512, T=256: 124 ms per step before, 91 ms after).
        alignas(64) T Ap[MR * KC];
        for (int j0 = 0; j0 < N; j0 += panel_cols) {
            const int nc = std::min(panel_cols, N - j0);
            for (int p0 = 0; p0 < K; p0 += panel_rows) {
                const int kk = std::min(panel_rows, K - p0);
                pack_B_panel(Bp, transB, B, ldb, p0, kk, j0, nc, 0, 1);
                compute_unit(Ap, transA, A, lda, M, Bp, p0, kk, 0, M, 0, (nc + NR - 1) / NR, j0, N,
                             alpha, beta, C, ldc, bias);
            }
        }
        return;
    }

#pragma omp parallel
    {
        alignas(64) T Ap[MR * KC];  // this thread's A sliver, in L1
        int threads = 1, id = 0;
#ifdef _OPENMP
        threads = omp_get_num_threads();
        id = omp_get_thread_num();
#endif
        for (int j0 = 0; j0 < N; j0 += panel_cols) {
            const int nc = std::min(panel_cols, N - j0);
            const int slivers = (nc + NR - 1) / NR;

            // Split C into about 2 work units per thread, handed out one at a
            // time so that a thread slowed by another process does not hold
            // the rest back for long. (Each unit reads its B blocks from L3
            // again, so more units cost speed: 4 per thread lost 10-20% on
            // the dweight products.) Rows first; columns too when C is short.
            // The split decides who computes a tile, never how.
            const int wanted = 2 * threads;
            const int row_slivers = (M + MR - 1) / MR;
            const int unit_rows = (row_slivers + wanted - 1) / wanted * MR;
            const int row_units = (M + unit_rows - 1) / unit_rows;
            const int col_wanted = std::min(slivers, (wanted + row_units - 1) / row_units);
            const int unit_slivers = (slivers + col_wanted - 1) / col_wanted;
            const int col_units = (slivers + unit_slivers - 1) / unit_slivers;

            for (int p0 = 0; p0 < K; p0 += panel_rows) {
                const int kk = std::min(panel_rows, K - p0);
                pack_B_panel(Bp, transB, B, ldb, p0, kk, j0, nc, id, threads);
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
                for (int u = 0; u < row_units * col_units; ++u) {
                    const int r0 = (u / col_units) * unit_rows;
                    const int s0 = (u % col_units) * unit_slivers;
                    compute_unit(Ap, transA, A, lda, M, Bp, p0, kk, r0, std::min(M, r0 + unit_rows),
                                 s0, std::min(slivers, s0 + unit_slivers), j0, N, alpha, beta, C,
                                 ldc, bias);
                }
            }
        }
    }
}

}  // namespace

// op(A) is (M,K), op(B) is (K,N), C is (M,N); see matmul.h.
template <typename T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc) {
    gemm_with_bias(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, (const T*)nullptr);
}

// ----------------------------------------------------------------------------
// Naive reference: the loops of llm.c's matmul_forward_naive, parallel over
// output rows only (each output is one thread's plain sum, so these are
// deterministic too).

// inp is (N,C), weight is (OC,C), bias is (OC) or nullptr, out is (N,OC).
template <typename T>
void matmul_forward_naive(T* out, const T* inp, const T* weight, const T* bias, int N, int C,
                          int OC) {
#pragma omp parallel for if (use_threads(2.0 * N * C * OC))
    for (int n = 0; n < N; ++n) {
        for (int o = 0; o < OC; ++o) {
            T val = bias ? bias[o] : T(0);
            for (int c = 0; c < C; ++c) val += inp[(size_t)n * C + c] * weight[(size_t)o * C + c];
            out[(size_t)n * OC + o] = val;
        }
    }
}

// dout is (N,OC), inp is (N,C), weight is (OC,C); accumulates into dinp (N,C),
// dweight (OC,C), dbias (OC), each optional.
template <typename T>
void matmul_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                           const T* weight, int N, int C, int OC) {
    const bool threaded = use_threads(2.0 * N * C * OC);
    (void)threaded;
    if (dinp) {
#pragma omp parallel for if (threaded)
        for (int n = 0; n < N; ++n)
            for (int o = 0; o < OC; ++o) {
                const T d = dout[(size_t)n * OC + o];
                for (int c = 0; c < C; ++c)
                    dinp[(size_t)n * C + c] += weight[(size_t)o * C + c] * d;
            }
    }
    if (dweight || dbias) {
#pragma omp parallel for if (threaded)
        for (int o = 0; o < OC; ++o)
            for (int n = 0; n < N; ++n) {
                const T d = dout[(size_t)n * OC + o];
                if (dweight)
                    for (int c = 0; c < C; ++c)
                        dweight[(size_t)o * C + c] += inp[(size_t)n * C + c] * d;
                if (dbias) dbias[o] += d;
            }
    }
}

// ----------------------------------------------------------------------------
// Fast versions: the linear layer expressed as gemm calls.

// inp is (N,C), weight is (OC,C), bias is (OC) or nullptr, out is (N,OC).
template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int N, int C, int OC) {
    LayerTimer timer(LayerKind::Matmul);
    // out = inp (N,C) @ weight^T (C,OC) + bias
    gemm_with_bias(false, true, N, OC, C, T(1), inp, C, weight, C, T(0), out, OC, bias);
}

// dout is (N,OC), inp is (N,C), weight is (OC,C); accumulates into dinp (N,C),
// dweight (OC,C), dbias (OC), each optional.
template <typename T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int N, int C, int OC, Grad dinp_mode) {
    LayerTimer timer(LayerKind::Matmul);
    // dinp (N,C) (+)= dout (N,OC) @ weight (OC,C)
    const T beta = dinp_mode == Grad::Overwrite ? T(0) : T(1);
    if (dinp) gemm(false, false, N, C, OC, T(1), dout, OC, weight, C, beta, dinp, C);
    // dweight (OC,C) += dout^T (OC,N) @ inp (N,C)
    if (dweight) gemm(true, false, OC, C, N, T(1), dout, OC, inp, C, T(1), dweight, C);
    if (dbias) {
        // dbias is the column sum of dout. Threads split the columns, and each
        // column is summed over rows 0..N-1 in order, so the sum does not
        // depend on the thread count. Chunks of 64 columns keep the partial
        // sums in registers while the rows stream past.
        constexpr int kChunk = 64;
        const int chunks = (OC + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (use_threads((double)N * OC))
        for (int ch = 0; ch < chunks; ++ch) {
            const int o0 = ch * kChunk, width = std::min(kChunk, OC - o0);
            T sum[kChunk] = {};
            for (int n = 0; n < N; ++n) {
                const T* row = dout + (size_t)n * OC + o0;
                for (int o = 0; o < width; ++o) sum[o] += row[o];
            }
            for (int o = 0; o < width; ++o) dbias[o0 + o] += sum[o];
        }
    }
}

#define LRT_INSTANTIATE_MATMUL(T)                                                                  \
    template void gemm<T>(bool, bool, int, int, int, T, const T*, int, const T*, int, T, T*, int); \
    template void matmul_forward<T>(T*, const T*, const T*, const T*, int, int, int);              \
    template void matmul_backward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int, Grad); \
    template void matmul_forward_naive<T>(T*, const T*, const T*, const T*, int, int, int);        \
    template void matmul_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int);
LRT_INSTANTIATE_MATMUL(float)
LRT_INSTANTIATE_MATMUL(double)
