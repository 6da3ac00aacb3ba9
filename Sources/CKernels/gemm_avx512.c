// Single-thread AVX-512 GEMMs for the Winograd convolution's products, on the layouts its
// transforms write (no packing): row-major operands whose long dimension is the tile index.
// Without packing they beat OpenBLAS's AVX-512 kernels on these shapes (211-233 against 118-180
// GFLOP/s on an AMD EPYC here), and OpenBLAS may run AVX2 ones anyway (OPENBLAS_CORETYPE=Haswell,
// as that machine's environment sets it). Edge blocks clamp their extra rows and columns to valid
// ones, compute them redundantly and do not store them.
#include "ckernels.h"
#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>

int ae_gemm_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

#define AVX512 __attribute__((target("avx512f,fma")))

static inline AVX512 __mmask16 tail_mask(long remaining) {
    if (remaining >= 16) return 0xFFFF;
    if (remaining <= 0) return 0;
    return (__mmask16)((1u << remaining) - 1);
}

// c[i][j] = sum_p a(i, p) b[p][j], a(i, p) = a[i * a_rs + p * a_cs]; 8 rows x 48 columns a block.
AVX512 void ae_gemm_nn(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb,
                       float *c, size_t ldc) {
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

// c[i][j] += sum_t a[i][t] b[j][t] over k values of t (a long reduction: the weight gradient),
// 4 x 6 outputs a block, t in chunks that keep both blocks' rows in cache.
AVX512 void ae_gemm_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                       size_t ldc) {
    const int chunk = 1024;
    for (int t0 = 0; t0 < k; t0 += chunk) {
        int tn = k - t0 < chunk ? k - t0 : chunk;
        for (int i0 = 0; i0 < m; i0 += 4) {
            const float *ar[4];
            for (int i = 0; i < 4; i++) ar[i] = a + (size_t)(i0 + i < m ? i0 + i : m - 1) * lda + t0;
            for (int j0 = 0; j0 < n; j0 += 6) {
                const float *br[6];
                for (int j = 0; j < 6; j++) br[j] = b + (size_t)(j0 + j < n ? j0 + j : n - 1) * ldb + t0;
                __m512 acc[4][6];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 6; j++) acc[i][j] = _mm512_setzero_ps();
                for (int t = 0; t < tn; t += 16) {
                    __mmask16 mask = tail_mask(tn - t);
                    __m512 av[4], bv[6];
                    for (int i = 0; i < 4; i++) av[i] = _mm512_maskz_loadu_ps(mask, ar[i] + t);
                    for (int j = 0; j < 6; j++) bv[j] = _mm512_maskz_loadu_ps(mask, br[j] + t);
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 6; j++) acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
                }
                for (int i = 0; i < 4 && i0 + i < m; i++)
                    for (int j = 0; j < 6 && j0 + j < n; j++)
                        c[(size_t)(i0 + i) * ldc + j0 + j] += _mm512_reduce_add_ps(acc[i][j]);
            }
        }
    }
}

#else
// Elsewhere the callers use BLAS (ae_gemm_avx512_available() is 0); these keep the symbols.
int ae_gemm_avx512_available(void) { return 0; }

void ae_gemm_nn(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb, float *c,
                size_t ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++) s += a[i * a_rs + p * a_cs] * b[(size_t)p * ldb + j];
            c[(size_t)i * ldc + j] = s;
        }
}

void ae_gemm_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int t = 0; t < k; t++) s += a[(size_t)i * lda + t] * b[(size_t)j * ldb + t];
            c[(size_t)i * ldc + j] += s;
        }
}
#endif
