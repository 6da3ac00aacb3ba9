// Single-thread GEMMs for the Winograd convolution's products m = u v and dv = u^T dm, on the layouts
// its transforms write: row-major operands whose long dimension is the tile index. They beat
// OpenBLAS on these shapes. The weight gradient du = dm v^T reduces over a part's few hundred tiles
// at most: with AVX-512 it runs here too, on v's part transposed (ae_transpose) and added to du
// (training on one shard ran 10% slower with OpenBLAS's AVX2 kernels, as fast with its AVX-512 ones,
// which a user's OPENBLAS_CORETYPE may rule out). With AVX2 only, OpenBLAS beat our dot-product
// kernels on most of its shapes (50-59 against 22-48 GFLOP/s) and runs it.
// The AVX-512 kernels read b unpacked (211-233 against 118-180 GFLOP/s on an AMD EPYC with
// AVX-512). The AVX2 ones pack b's panels on the stack, as OpenBLAS does, but skip its separate pass
// that zeroes c (45-74 against 31-58 GFLOP/s on an AVX2-only EPYC). Edge blocks clamp their extra
// rows and columns to valid ones, compute them redundantly and do not store them.
#include "ckernels.h"
#include <stdint.h>


// c = alpha a b + beta c, b with n <= 16 columns, one row of c at a time (sums over p in order).
static void gemm_narrow_scalar(int m, int n, int k, float alpha, const float *a, size_t lda, const float *b,
                               size_t ldb, float beta, float *c, size_t ldc) {
    for (int i = 0; i < m; i++) {
        float sums[16] = {0};
        for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++) sums[j] += a[(size_t)i * lda + p] * b[(size_t)p * ldb + j];
        for (int j = 0; j < n; j++) {
            float *out = c + (size_t)i * ldc + j;
            *out = beta == 0 ? alpha * sums[j] : alpha * sums[j] + beta * *out;
        }
    }
}

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

// One block of c[i][j] = sum_p a(i, p) b[p][j], a(i, p) = a[i * a_rs + p * a_cs]: 8 rows from i0 and
// `vectors` x 16 columns from j0 (a constant where inlined).
static inline __attribute__((always_inline)) AVX512 void nn_block_512(int m, int n, int k, const float *a, size_t a_rs,
                                                                      size_t a_cs, const float *b, size_t ldb, float *c,
                                                                      size_t ldc, int accumulate, int i0, int j0,
                                                                      int vectors) {
    __mmask16 mask[3];
    for (int v = 0; v < vectors; v++) mask[v] = tail_mask(n - j0 - 16 * v);
    const float *rows[8];
    for (int i = 0; i < 8; i++) rows[i] = a + (size_t)(i0 + i < m ? i0 + i : m - 1) * a_rs;
    __m512 acc[8][3];
    for (int i = 0; i < 8; i++)
        for (int v = 0; v < vectors; v++) acc[i][v] = _mm512_setzero_ps();
    const float *bp = b + j0;
    for (int p = 0; p < k; p++, bp += ldb) {
        __m512 bv[3];
        for (int v = 0; v < vectors; v++) bv[v] = _mm512_maskz_loadu_ps(mask[v], bp + 16 * v);
        size_t offset = (size_t)p * a_cs;
        for (int i = 0; i < 8; i++) {
            __m512 ai = _mm512_set1_ps(rows[i][offset]);
            for (int v = 0; v < vectors; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    }
    for (int i = 0; i < 8 && i0 + i < m; i++) {
        float *ci = c + (size_t)(i0 + i) * ldc + j0;
        for (int v = 0; v < vectors; v++) {
            // Added at the end, so a long running sum takes one rounding per call, not per p.
            if (accumulate) acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_maskz_loadu_ps(mask[v], ci + 16 * v));
            _mm512_mask_storeu_ps(ci + 16 * v, mask[v], acc[i][v]);
        }
    }
}

// Blocks of 8 rows x 48 columns, or 8 x 32 where 32 or 64 columns are left, or fewer than 32 (the
// weight gradient's n is a channel count: 32 and 64 would waste a third of 48-column blocks).
static AVX512 void gemm_nn_512(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b,
                               size_t ldb, float *c, size_t ldc, int accumulate) {
    for (int j0 = 0; j0 < n;) {
        int rest = n - j0;
        if (rest <= 32 || rest == 64) {
            for (int i0 = 0; i0 < m; i0 += 8) nn_block_512(m, n, k, a, a_rs, a_cs, b, ldb, c, ldc, accumulate, i0, j0, 2);
            j0 += 32;
        } else {
            for (int i0 = 0; i0 < m; i0 += 8) nn_block_512(m, n, k, a, a_rs, a_cs, b, ldb, c, ldc, accumulate, i0, j0, 3);
            j0 += 48;
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
                             size_t ldb, float *c, size_t ldc, int accumulate) {
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
                int valid = m - i0 < 6 ? m - i0 : 6, more = accumulate || p0 > 0;
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
                      size_t ldb, float *c, size_t ldc, int accumulate) {
    if (kernel == 512) gemm_nn_512(m, n, k, a, a_rs, a_cs, b, ldb, c, ldc, accumulate);
    else gemm_nn_256(m, n, k, a, a_rs, a_cs, b, ldb, c, ldc, accumulate);
}

void ae_gemm_nn(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb, float *c,
                size_t ldc, int accumulate) {
    ae_gemm_nn_using(ae_gemm_products_kernel(), m, n, k, a, a_rs, a_cs, b, ldb, c, ldc, accumulate);
}

// dst[j][i] = src[i][j]: 16 x 16 blocks transposed in registers (4 rounds of shuffles), edges masked.
static AVX512 void transpose_512(int rows, int cols, const float *src, size_t lds, float *dst, size_t ldd) {
    for (int i0 = 0; i0 < rows; i0 += 16) {
        int h = rows - i0 < 16 ? rows - i0 : 16;
        __mmask16 store = tail_mask(h);
        for (int j0 = 0; j0 < cols; j0 += 16) {
            int w = cols - j0 < 16 ? cols - j0 : 16;
            __mmask16 load = tail_mask(w);
            __m512 r[16], t[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < h ? _mm512_maskz_loadu_ps(load, src + (size_t)(i0 + i) * lds + j0) : _mm512_setzero_ps();
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 16; i += 4)
                for (int q = 0; q < 2; q++) {
                    __m512d x = _mm512_castps_pd(t[i + q]), y = _mm512_castps_pd(t[i + 2 + q]);
                    r[i + q] = _mm512_castpd_ps(_mm512_unpacklo_pd(x, y));
                    r[i + 2 + q] = _mm512_castpd_ps(_mm512_unpackhi_pd(x, y));
                }
            for (int i = 0; i < 16; i += 8)
                for (int q = 0; q < 4; q++) {
                    t[i + q] = _mm512_shuffle_f32x4(r[i + q], r[i + 4 + q], 0x88);
                    t[i + 4 + q] = _mm512_shuffle_f32x4(r[i + q], r[i + 4 + q], 0xDD);
                }
            for (int q = 0; q < 8; q++) {
                r[q] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0x88);
                r[q + 8] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0xDD);
            }
            // r[i] now holds column i with its bits 0 and 1 swapped.
            for (int j = 0; j < w; j++)
                _mm512_mask_storeu_ps(dst + (size_t)(j0 + j) * ldd + i0, store, r[(j & ~3) | (j & 1) << 1 | (j >> 1 & 1)]);
        }
    }
}

// c(i, j) for `rows` rows from a and N columns from bt (b transposed, N x k): dot products over k,
// 16 at a time, R rows x N columns of accumulators (constants where inlined); rows past `rows`
// repeat row 0 (computed, not stored).
static inline __attribute__((always_inline)) AVX512 void narrow_dot_block(
    int rows, int k, const float *a, size_t lda, const float *bt, size_t ldt, float alpha, float beta, float *c,
    size_t ldc, const int R, const int N) {
    __m512 acc[8][16];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < N; j++) acc[r][j] = _mm512_setzero_ps();
    const float *row[8];
    for (int r = 0; r < R; r++) row[r] = a + (size_t)(r < rows ? r : 0) * lda;
    int p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 av[8];
        for (int r = 0; r < R; r++) av[r] = _mm512_loadu_ps(row[r] + p);
        for (int j = 0; j < N; j++) {
            const __m512 bv = _mm512_loadu_ps(bt + (size_t)j * ldt + p);
            for (int r = 0; r < R; r++) acc[r][j] = _mm512_fmadd_ps(av[r], bv, acc[r][j]);
        }
    }
    if (p < k) {
        const __mmask16 mask = tail_mask(k - p);
        __m512 av[8];
        for (int r = 0; r < R; r++) av[r] = _mm512_maskz_loadu_ps(mask, row[r] + p);
        for (int j = 0; j < N; j++) {
            const __m512 bv = _mm512_maskz_loadu_ps(mask, bt + (size_t)j * ldt + p);
            for (int r = 0; r < R; r++) acc[r][j] = _mm512_fmadd_ps(av[r], bv, acc[r][j]);
        }
    }
    for (int r = 0; r < R && r < rows; r++) {
        float *out = c + (size_t)r * ldc;
        for (int j = 0; j < N; j++) {
            const float sum = alpha * _mm512_reduce_add_ps(acc[r][j]);
            out[j] = beta == 0 ? sum : sum + beta * out[j];
        }
    }
}

// The dot-product form for b of n <= 16 columns whose transpose fits on the stack (n k <= 8192):
// b's columns are copied into rows of bt once, then every row of a runs along them 16 values of k
// at a time (the form below uses n of 16 lanes). 8 rows at a time for n <= 2, 4 for n <= 4, 2 for n <= 8.
#define NARROW_STACK 8192
static AVX512 void gemm_narrow_dot_512(int m, int n, int k, float alpha, const float *a, size_t lda, const float *b,
                                       size_t ldb, float beta, float *c, size_t ldc) {
    float bt[NARROW_STACK] __attribute__((aligned(64)));
    for (int j = 0; j < n; j++)
        for (int p = 0; p < k; p++) bt[(size_t)j * k + p] = b[(size_t)p * ldb + j];
    const int R = n <= 2 ? 8 : n <= 4 ? 4 : n <= 8 ? 2 : 1;
    for (int i = 0; i < m; i += R) {
        const int rows = m - i < R ? m - i : R;
        const float *ai = a + (size_t)i * lda;
        float *ci = c + (size_t)i * ldc;
        switch (n) {
#define NARROW_CASE(N, RR) \
    case N: narrow_dot_block(rows, k, ai, lda, bt, (size_t)k, alpha, beta, ci, ldc, RR, N); break;
            NARROW_CASE(1, 8) NARROW_CASE(2, 8) NARROW_CASE(3, 4) NARROW_CASE(4, 4)
            NARROW_CASE(5, 2) NARROW_CASE(6, 2) NARROW_CASE(7, 2) NARROW_CASE(8, 2)
            NARROW_CASE(9, 1) NARROW_CASE(10, 1) NARROW_CASE(11, 1) NARROW_CASE(12, 1)
            NARROW_CASE(13, 1) NARROW_CASE(14, 1) NARROW_CASE(15, 1) NARROW_CASE(16, 1)
#undef NARROW_CASE
            default: break;
        }
    }
}

// c = alpha a b + beta c for b of at most 16 columns: one masked vector per row of c, 4 rows at a time
// (for k too long for the dot-product form's copy of b).
static AVX512 void gemm_narrow_512(int m, int n, int k, float alpha, const float *a, size_t lda, const float *b,
                                   size_t ldb, float beta, float *c, size_t ldc) {
    const __mmask16 mask = tail_mask(n);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int i = 0;
    for (; i < m; i += 4) {
        const int rows = m - i < 4 ? m - i : 4;
        // Rows past m repeat the last one (computed, not stored).
        const float *r0 = a + (size_t)i * lda, *r1 = a + (size_t)(i + (rows > 1)) * lda,
                    *r2 = a + (size_t)(i + (rows > 2) * 2) * lda, *r3 = a + (size_t)(i + (rows > 3) * 3) * lda;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (int p = 0; p < k; p++) {
            const __m512 bp = _mm512_maskz_loadu_ps(mask, b + (size_t)p * ldb);
            s0 = _mm512_fmadd_ps(_mm512_set1_ps(r0[p]), bp, s0);
            s1 = _mm512_fmadd_ps(_mm512_set1_ps(r1[p]), bp, s1);
            s2 = _mm512_fmadd_ps(_mm512_set1_ps(r2[p]), bp, s2);
            s3 = _mm512_fmadd_ps(_mm512_set1_ps(r3[p]), bp, s3);
        }
        const __m512 sums[4] = {s0, s1, s2, s3};
        for (int r = 0; r < rows; r++) {
            float *row = c + (size_t)(i + r) * ldc;
            __m512 v = _mm512_mul_ps(va, sums[r]);
            if (beta != 0) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, row), v);
            _mm512_mask_storeu_ps(row, mask, v);
        }
    }
}

void ae_transpose(int rows, int cols, const float *src, size_t lds, float *dst, size_t ldd) {
    if (ae_gemm_products_kernel() == 512) {
        transpose_512(rows, cols, src, lds, dst, ldd);
        return;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(size_t)j * ldd + i] = src[(size_t)i * lds + j];
}

void ae_gemm_narrow(int m, int n, int k, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                    float beta, float *c, size_t ldc) {
    if (ae_gemm_products_kernel() == 512 && n >= 1 && n <= 16 && (long)n * k <= NARROW_STACK && k > 0) {
        gemm_narrow_dot_512(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } else if (ae_gemm_products_kernel() == 512) {
        gemm_narrow_512(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } else {
        gemm_narrow_scalar(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}

#else
// Elsewhere the callers use BLAS (ae_gemm_products_kernel() is 0); these keep the symbols.
int ae_gemm_products_kernel(void) { return 0; }

void ae_gemm_nn_using(int kernel, int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b,
                      size_t ldb, float *c, size_t ldc, int accumulate) {
    (void)kernel;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = accumulate ? c[(size_t)i * ldc + j] : 0;
            for (int p = 0; p < k; p++) s += a[i * a_rs + p * a_cs] * b[(size_t)p * ldb + j];
            c[(size_t)i * ldc + j] = s;
        }
}

void ae_gemm_nn(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb, float *c,
                size_t ldc, int accumulate) {
    ae_gemm_nn_using(0, m, n, k, a, a_rs, a_cs, b, ldb, c, ldc, accumulate);
}

void ae_transpose(int rows, int cols, const float *src, size_t lds, float *dst, size_t ldd) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(size_t)j * ldd + i] = src[(size_t)i * lds + j];
}

void ae_gemm_narrow(int m, int n, int k, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                    float beta, float *c, size_t ldc) {
    gemm_narrow_scalar(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif
