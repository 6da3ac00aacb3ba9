// Single-thread GEMMs for the Winograd convolution's products m = u v and dv = u^T dm, on the layouts
// its transforms write: row-major operands whose long dimension is the tile index. They beat
// OpenBLAS on these shapes. (The weight gradient du = dm v^T reduces over a part's few hundred
// tiles at most; there OpenBLAS beat our dot-product kernels on most shapes, 50-59 against 22-48
// GFLOP/s, and runs it.)
// The AVX-512 kernels read b unpacked (211-233 against 118-180 GFLOP/s on an AMD EPYC with
// AVX-512). The AVX2 ones pack b's panels on the stack, as OpenBLAS does, but skip its separate pass
// that zeroes c (45-74 against 31-58 GFLOP/s on an AVX2-only EPYC). Edge blocks clamp their extra
// rows and columns to valid ones, compute them redundantly and do not store them.
#include "ckernels.h"
#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>

int ae_gemm_products_kernel(void) {
    // Shard threads call this at once: the cache is read and written atomically (same value).
    static int cached = -1;
    int kernel = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (kernel < 0) {
        __builtin_cpu_init();
        kernel = __builtin_cpu_supports("avx512f") ? 512
                 : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 256 : 0;
        __atomic_store_n(&cached, kernel, __ATOMIC_RELAXED);
    }
    return kernel;
}

#define AVX512 __attribute__((target("avx512f,fma")))

static inline AVX512 __mmask16 tail_mask(long remaining) {
    if (remaining >= 16) return 0xFFFF;
    if (remaining <= 0) return 0;
    return (__mmask16)((1u << remaining) - 1);
}

// c[i][j] = sum_p a(i, p) b[p][j], a(i, p) = a[i * a_rs + p * a_cs]; 8 rows x 48 columns a block.
static AVX512 void gemm_nn_512(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b,
                               size_t ldb, float *c, size_t ldc) {
    for (int j0 = 0; j0 < n; j0 += 48) {
        __mmask16 m0 = tail_mask(n - j0), m1 = tail_mask(n - j0 - 16), m2 = tail_mask(n - j0 - 32);
        for (int i0 = 0; i0 < m; i0 += 8) {
            const float *rows[8];
            for (int i = 0; i < 8; i++) rows[i] = a + (size_t)(i0 + i < m ? i0 + i : m - 1) * a_rs;
            __m512 acc[8][3];
            for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
            const float *bp = b + j0;
            for (int p = 0; p < k; p++, bp += ldb) {
                __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16),
                       b2 = _mm512_maskz_loadu_ps(m2, bp + 32);
                size_t offset = (size_t)p * a_cs;
                for (int i = 0; i < 8; i++) {
                    __m512 ai = _mm512_set1_ps(rows[i][offset]);
                    acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
                    acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
                    acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
                }
            }
            for (int i = 0; i < 8 && i0 + i < m; i++) {
                float *ci = c + (size_t)(i0 + i) * ldc + j0;
                _mm512_mask_storeu_ps(ci, m0, acc[i][0]);
                _mm512_mask_storeu_ps(ci + 16, m1, acc[i][1]);
                _mm512_mask_storeu_ps(ci + 32, m2, acc[i][2]);
            }
        }
    }
}

#define AVX2 __attribute__((target("avx2,fma")))

static const int32_t lane_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// Lanes below `remaining` (clamped to 0...8) set.
static inline AVX2 __m256i lanes(long remaining) {
    long r = remaining < 0 ? 0 : remaining > 8 ? 8 : remaining;
    return _mm256_loadu_si256((const __m256i *)(lane_masks + 8 - r));
}

// 6 rows x 16 columns of c from a packed panel of b (k rows of 16, zero past n): 12 accumulators,
// 2 loads of b and 6 broadcasts of a per step of p, no register spilled. `accumulate` adds to c
// (later chunks of k); `masked` (a constant where inlined) stores only the first `columns` columns.
// `height` (6, 4 or 2, a constant where inlined) rows are computed: the last block of a row count
// that is not a multiple of 6 takes the smallest that covers it.
static inline __attribute__((always_inline)) AVX2 void nn_block_256(const float *const rows[6], size_t a_cs,
                                                                      const float *panel, int k, float *c,
                                                                      size_t ldc, int height, int valid_rows,
                                                                      int accumulate, int masked, long columns) {
    __m256 acc[6][2];
    for (int i = 0; i < height; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const float *bp = panel;
    for (int p = 0; p < k; p++, bp += 16) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        size_t offset = (size_t)p * a_cs;
        for (int i = 0; i < height; i++) {
            __m256 ai = _mm256_broadcast_ss(rows[i] + offset);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    __m256i m0 = lanes(columns), m1 = lanes(columns - 8);
    for (int i = 0; i < height; i++) {
        if (i >= valid_rows) break;
        float *ci = c + (size_t)i * ldc;
        if (masked) {
            if (accumulate) {
                acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_maskload_ps(ci, m0));
                acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_maskload_ps(ci + 8, m1));
            }
            _mm256_maskstore_ps(ci, m0, acc[i][0]);
            _mm256_maskstore_ps(ci + 8, m1, acc[i][1]);
        } else {
            if (accumulate) {
                acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(ci));
                acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(ci + 8));
            }
            _mm256_storeu_ps(ci, acc[i][0]);
            _mm256_storeu_ps(ci + 8, acc[i][1]);
        }
    }
}

// b's panels are packed first (on the stack, up to 256 values of p at a time): the transforms'
// rows lie `ldb` apart, often a multiple of 4 KB, so unpacked they would share a few L1 sets.
static AVX2 void gemm_nn_256(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b,
                             size_t ldb, float *c, size_t ldc) {
    enum { depth = 256 };
    float panel[depth * 16] __attribute__((aligned(32)));
    for (int j0 = 0; j0 < n; j0 += 16) {
        int columns = n - j0 < 16 ? n - j0 : 16;
        for (int p0 = 0; p0 < k || p0 == 0; p0 += depth) {
            int kp = k - p0 < depth ? k - p0 : depth;
            __m256i m0 = lanes(columns), m1 = lanes(columns - 8);
            for (int p = 0; p < kp; p++) {
                const float *row = b + (size_t)(p0 + p) * ldb + j0;
                float *dst = panel + p * 16;
                if (columns == 16) {
                    _mm256_store_ps(dst, _mm256_loadu_ps(row));
                    _mm256_store_ps(dst + 8, _mm256_loadu_ps(row + 8));
                } else {
                    _mm256_store_ps(dst, _mm256_maskload_ps(row, m0));
                    _mm256_store_ps(dst + 8, _mm256_maskload_ps(row + 8, m1));
                }
            }
            for (int i0 = 0; i0 < m; i0 += 6) {
                const float *rows[6];
                for (int i = 0; i < 6; i++) rows[i] = a + (size_t)(i0 + i < m ? i0 + i : m - 1) * a_rs + p0 * a_cs;
                int valid = m - i0 < 6 ? m - i0 : 6, more = p0 > 0;
                float *cb = c + (size_t)i0 * ldc + j0;
                if (columns == 16) {
                    if (valid > 4) nn_block_256(rows, a_cs, panel, kp, cb, ldc, 6, valid, more, 0, 16);
                    else if (valid > 2) nn_block_256(rows, a_cs, panel, kp, cb, ldc, 4, valid, more, 0, 16);
                    else nn_block_256(rows, a_cs, panel, kp, cb, ldc, 2, valid, more, 0, 16);
                } else {
                    nn_block_256(rows, a_cs, panel, kp, cb, ldc, 6, valid, more, 1, columns);
                }
            }
            if (k == 0) break;
        }
    }
}

void ae_gemm_nn_using(int kernel, int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b,
                      size_t ldb, float *c, size_t ldc) {
    if (kernel == 512) gemm_nn_512(m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
    else gemm_nn_256(m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
}

void ae_gemm_nn(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb, float *c,
                size_t ldc) {
    ae_gemm_nn_using(ae_gemm_products_kernel(), m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
}

#else
// Elsewhere the callers use BLAS (ae_gemm_products_kernel() is 0); these keep the symbols.
int ae_gemm_products_kernel(void) { return 0; }

void ae_gemm_nn_using(int kernel, int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b,
                      size_t ldb, float *c, size_t ldc) {
    (void)kernel;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++) s += a[i * a_rs + p * a_cs] * b[(size_t)p * ldb + j];
            c[(size_t)i * ldc + j] = s;
        }
}

void ae_gemm_nn(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb, float *c,
                size_t ldc) {
    ae_gemm_nn_using(0, m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
}
#endif
