// The Winograd forward products m = u v of the denoiser's layers, one part each (as Conv2D runs them),
// on our fp32 AVX-512 kernel (ae_gemm_nn) against a bf16 kernel of the same 8 x 48 blocking on
// AVX512-BF16 dot products (vdpbf16ps: two products per lane and instruction, sums in fp32), with
// the operands already packed in its pair-interleaved layout; and what packing v from fp32 costs.
// One thread, best of 40 interleaved runs. Built and run by tools/bench_bf16_products.
#include "ckernels.h"
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BF16 __attribute__((target("avx512f,avx512bf16,avx512bw")))

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// c (m x n) = a (m x k, bf16 row-major, k even) b, b packed as k/2 rows of n pairs (b[p][j], b[p+1][j]).
static BF16 void gemm_bf16(int m, int n, int k, const uint16_t *a, const uint32_t *b, float *c, size_t ldc) {
    for (int j0 = 0; j0 < n; j0 += 48) {
        __mmask16 mask[3];
        for (int v = 0; v < 3; v++) {
            int rest = n - j0 - 16 * v;
            mask[v] = rest >= 16 ? 0xFFFF : rest <= 0 ? 0 : (__mmask16)((1u << rest) - 1);
        }
        for (int i0 = 0; i0 < m; i0 += 8) {
            const uint16_t *rows[8];
            for (int i = 0; i < 8; i++) rows[i] = a + (size_t)(i0 + i < m ? i0 + i : m - 1) * k;
            __m512 acc[8][3];
            for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
            for (int p = 0; p < k; p += 2) {
                const uint32_t *bp = b + (size_t)(p / 2) * n + j0;
                __m512bh b0 = (__m512bh)_mm512_maskz_loadu_epi32(mask[0], bp),
                         b1 = (__m512bh)_mm512_maskz_loadu_epi32(mask[1], bp + 16),
                         b2 = (__m512bh)_mm512_maskz_loadu_epi32(mask[2], bp + 32);
                for (int i = 0; i < 8; i++) {
                    uint32_t pair;
                    memcpy(&pair, rows[i] + p, 4);
                    __m512bh ai = (__m512bh)_mm512_set1_epi32((int)pair);
                    acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
                    acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
                    acc[i][2] = _mm512_dpbf16_ps(acc[i][2], ai, b2);
                }
            }
            for (int i = 0; i < 8 && i0 + i < m; i++)
                for (int v = 0; v < 3; v++)
                    _mm512_mask_storeu_ps(c + (size_t)(i0 + i) * ldc + j0 + 16 * v, mask[v], acc[i][v]);
        }
    }
}

// v (k rows of n fp32, ldv apart) into pairs: out[p/2][j] = (bf16 v[p][j], bf16 v[p+1][j]), round to nearest even.
static BF16 void pack_bf16(int k, int n, const float *v, size_t ldv, uint32_t *out) {
    const __m512i lo_index = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                              22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int p = 0; p < k; p += 2) {
        const float *r0 = v + (size_t)p * ldv, *r1 = r0 + ldv;
        uint32_t *dst = out + (size_t)(p / 2) * n;
        for (int j = 0; j < n; j += 16) {
            int rest = n - j;
            __mmask16 mk = rest >= 16 ? 0xFFFF : (__mmask16)((1u << rest) - 1);
            // cvtne2ps2bf16(b, a) puts a's 16 values low, b's high; the permute interleaves them.
            __m512bh both = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(mk, r1 + j), _mm512_maskz_loadu_ps(mk, r0 + j));
            __m512i pairs = _mm512_permutexvar_epi16(lo_index, (__m512i)both);
            _mm512_mask_storeu_epi32(dst + j, mk, pairs);
        }
    }
}

static uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7FFF + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static float from_bf16(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

int main(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16")) {
        printf("bench_bf16_products: this CPU has no AVX512-BF16\n");
        return 1;
    }
    // (in channels, out channels, tiles of one part): the denoiser's layer shapes at batch 32.
    const int shapes[][3] = {{32, 32, 144}, {64, 64, 108}, {128, 128, 54}, {96, 32, 144}, {192, 64, 36}};
    srand(1);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int k = shapes[s][0], m = shapes[s][1], n = shapes[s][2];
        float *u = malloc(sizeof(float) * 36 * m * k), *v = malloc(sizeof(float) * 36 * k * n);
        float *c1 = malloc(sizeof(float) * 36 * m * n), *c2 = malloc(sizeof(float) * 36 * m * n);
        uint16_t *ub = malloc(2 * 36 * (size_t)m * k);
        uint32_t *vb = malloc(4 * 36 * (size_t)k / 2 * n);
        for (size_t i = 0; i < 36 * (size_t)m * k; i++) u[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t i = 0; i < 36 * (size_t)k * n; i++) v[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t i = 0; i < 36 * (size_t)m * k; i++) ub[i] = to_bf16(u[i]);
        double best32 = 1e9, best16 = 1e9, bestpack = 1e9;
        for (int rep = 0; rep < 40; rep++) {
            double t = now();
            for (int xi = 0; xi < 36; xi++)
                ae_gemm_nn(m, n, k, u + (size_t)xi * m * k, k, 1, v + (size_t)xi * k * n, n, c1 + (size_t)xi * m * n, n,
                           0);
            t = now() - t;
            best32 = t < best32 ? t : best32;
            t = now();
            for (int xi = 0; xi < 36; xi++) pack_bf16(k, n, v + (size_t)xi * k * n, n, vb + (size_t)xi * k / 2 * n);
            t = now() - t;
            bestpack = t < bestpack ? t : bestpack;
            t = now();
            for (int xi = 0; xi < 36; xi++)
                gemm_bf16(m, n, k, ub + (size_t)xi * m * k, vb + (size_t)xi * k / 2 * n, c2 + (size_t)xi * m * n, n);
            t = now() - t;
            best16 = t < best16 ? t : best16;
        }
        // The bf16 result against the same products of the rounded operands in double.
        double worst = 0;
        for (int xi = 0; xi < 36; xi += 7)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double sum = 0;
                    for (int p = 0; p < k; p++)
                        sum += (double)from_bf16(ub[((size_t)xi * m + i) * k + p]) *
                               from_bf16(to_bf16(v[((size_t)xi * k + p) * n + j]));
                    double d = sum - c2[((size_t)xi * m + i) * n + j];
                    worst = d > worst ? d : -d > worst ? -d : worst;
                }
        double flops = 2.0 * 36 * m * n * k;
        printf("C%d O%d, %d tiles: fp32 %.1f us (%.0f GFLOP/s), bf16 %.1f us (%.0f GFLOP/s, %.2fx), packing v %.1f us"
               " (bf16 + packing %.2fx); bf16 against double: %.1g\n",
               k, m, n, best32 * 1e6, flops / best32 * 1e-9, best16 * 1e6, flops / best16 * 1e-9, best32 / best16,
               bestpack * 1e6, best32 / (best16 + bestpack), worst);
        free(u), free(v), free(c1), free(c2), free(ub), free(vb);
    }
    return 0;
}
