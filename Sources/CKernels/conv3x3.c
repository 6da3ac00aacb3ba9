// Direct 3x3 convolution, stride 1, zero padding 1 ("same"), for layers with few channels, where
// im2col + GEMM spends its time copying and packing. Input planes are pre-padded (see
// ae_conv3x3_pad) so the inner loops read without bounds checks; rows are processed 8 pixels at
// a time, 4 output channels at once, with AVX2+FMA when the CPU has it (chosen at run time).
#include "ckernels.h"
#include "ae_team.h"
#include <stdatomic.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int ae_conv3x3_row_stride(int width) { return (width + 7) / 8 * 8 + 2; }

void ae_conv3x3_pad(const float *x, const float *relu_y, float *padded, int channels, int height, int width) {
    int ps = ae_conv3x3_row_stride(width);
    // Only the border and the row tails need zeros; the interior is overwritten.
    for (int c = 0; c < channels; c++) {
        float *plane = padded + (size_t)c * (height + 2) * ps;
        memset(plane, 0, sizeof(float) * (size_t)ps);
        memset(plane + (size_t)(height + 1) * ps, 0, sizeof(float) * (size_t)ps);
        for (int y = 0; y < height; y++) {
            float *row = plane + (size_t)(y + 1) * ps;
            size_t offset = ((size_t)c * height + y) * width;
            const float *source = x + offset;
            row[0] = 0;
            // Rows are short (7-64 floats here): a plain loop beats a memcpy call.
            if (relu_y) {
                const float *gate = relu_y + offset;
                for (int i = 0; i < width; i++) row[i + 1] = gate[i] > 0 ? source[i] : 0;
            } else {
                for (int i = 0; i < width; i++) row[i + 1] = source[i];
            }
            for (int i = width + 1; i < ps; i++) row[i] = 0;
        }
    }
}

static void conv_scalar(const float *xpad, int in_c, int height, int width, const float *w, const float *bias,
                        int out_c, float *y, int accumulate, int relu) {
    int ps = ae_conv3x3_row_stride(width);
    size_t plane = (size_t)(height + 2) * ps;
    for (int o = 0; o < out_c; o++) {
        for (int yy = 0; yy < height; yy++) {
            float *out = y + ((size_t)o * height + yy) * width;
            for (int x = 0; x < width; x++) {
                float s = accumulate ? out[x] : (bias ? bias[o] : 0);
                for (int c = 0; c < in_c; c++) {
                    const float *base = xpad + c * plane + (size_t)yy * ps + x;
                    const float *k = w + ((size_t)o * in_c + c) * 9;
                    for (int ky = 0; ky < 3; ky++) {
                        s += k[ky * 3] * base[ky * ps] + k[ky * 3 + 1] * base[ky * ps + 1] + k[ky * 3 + 2] * base[ky * ps + 2];
                    }
                }
                out[x] = relu && s < 0 ? 0 : s;
            }
        }
    }
}

static void wgrad_scalar(const float *xpad, int in_c, int height, int width, const float *dy, const float *relu_y,
                         int k0, int k1, float *dw, float *db) {
    int ps = ae_conv3x3_row_stride(width);
    size_t plane = (size_t)(height + 2) * ps;
    for (int o = k0 / in_c; o * in_c < k1; o++) {
        int c0 = k0 > o * in_c ? k0 - o * in_c : 0, c1 = k1 - o * in_c < in_c ? k1 - o * in_c : in_c;
        const float *g = dy + (size_t)o * height * width;
        const float *gate = relu_y ? relu_y + (size_t)o * height * width : NULL;
#define G(i) (gate && !(gate[i] > 0) ? 0.0f : g[i])
        if (c0 == 0) {
            float s = 0;
            for (int i = 0; i < height * width; i++) s += G(i);
            db[o] += s;
        }
        for (int c = c0; c < c1; c++) {
            for (int t = 0; t < 9; t++) {
                int ky = t / 3, kx = t % 3;
                float a = 0;
                for (int yy = 0; yy < height; yy++) {
                    const float *row = xpad + c * plane + (size_t)(yy + ky) * ps + kx;
                    for (int x = 0; x < width; x++) a += G(yy * width + x) * row[x];
                }
                dw[((size_t)o * in_c + c) * 9 + t] += a;
            }
        }
    }
#undef G
}

#if defined(__x86_64__)
static inline __attribute__((target("avx2,fma"))) __m256i tail_mask(int n) {
    const int lanes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_loadu_si256((const __m256i *)lanes));
}

/* One output row segment: NO output channels x NV vectors of 8 pixels starting at vector v0,
   accumulated over all input channels and the 9 taps. NO*NV accumulators stay in registers. */
#define CONV_BLOCK(NO, NV)                                                                                  \
    static inline __attribute__((target("avx2,fma"), always_inline)) void block_##NO##_##NV(                \
        const float *xpad, int in_c, size_t plane, int ps, int height, int width, const float *w, int o,    \
        const float *bias, float *y, int accumulate, int relu, int yy, int v0, int vectors, __m256i mask) { \
        __m256 acc[NO][NV];                                                                                 \
        for (int k = 0; k < NO; k++) {                                                                      \
            for (int j = 0; j < NV; j++) {                                                                  \
                float *out = y + ((size_t)(o + k) * height + yy) * width + (v0 + j) * 8;                    \
                int last = v0 + j == vectors - 1;                                                           \
                acc[k][j] = accumulate ? (last ? _mm256_maskload_ps(out, mask) : _mm256_loadu_ps(out))       \
                                       : _mm256_set1_ps(bias ? bias[o + k] : 0);                             \
            }                                                                                               \
        }                                                                                                   \
        size_t step = (size_t)in_c * 9;                                                                     \
        for (int c = 0; c < in_c; c++) {                                                                    \
            const float *base = xpad + c * plane + (size_t)yy * ps + v0 * 8;                                \
            const float *k0 = w + ((size_t)o * in_c + c) * 9;                                               \
            for (int t = 0; t < 9; t++) {                                                                   \
                const float *r = base + (t / 3) * ps + (t % 3);                                             \
                __m256 a[NV];                                                                               \
                for (int j = 0; j < NV; j++) a[j] = _mm256_loadu_ps(r + 8 * j);                             \
                for (int k = 0; k < NO; k++) {                                                              \
                    __m256 wk = _mm256_broadcast_ss(k0 + k * step + t);                                     \
                    for (int j = 0; j < NV; j++) acc[k][j] = _mm256_fmadd_ps(a[j], wk, acc[k][j]);          \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
        if (relu) {                                                                                         \
            for (int k = 0; k < NO; k++)                                                                    \
                for (int j = 0; j < NV; j++) acc[k][j] = _mm256_max_ps(acc[k][j], _mm256_setzero_ps());     \
        }                                                                                                   \
        for (int k = 0; k < NO; k++) {                                                                      \
            for (int j = 0; j < NV; j++) {                                                                  \
                float *out = y + ((size_t)(o + k) * height + yy) * width + (v0 + j) * 8;                    \
                if (v0 + j == vectors - 1) {                                                                \
                    _mm256_maskstore_ps(out, mask, acc[k][j]);                                              \
                } else {                                                                                    \
                    _mm256_storeu_ps(out, acc[k][j]);                                                       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }
CONV_BLOCK(4, 2)
CONV_BLOCK(8, 1)
CONV_BLOCK(4, 1)
CONV_BLOCK(1, 4)
CONV_BLOCK(1, 2)
CONV_BLOCK(1, 1)

static __attribute__((target("avx2,fma"))) void conv_avx2(const float *xpad, int in_c, int height, int width,
                                                            const float *w, const float *bias, int out_c, float *y,
                                                            int accumulate, int relu) {
    int ps = ae_conv3x3_row_stride(width);
    size_t plane = (size_t)(height + 2) * ps;
    int vectors = (width + 7) / 8;
    __m256i mask = tail_mask(width - (vectors - 1) * 8);
    int o = 0;
    // 8 independent accumulators per block keep both FMA units busy despite their latency.
    if (vectors == 1) {
        for (; o + 8 <= out_c; o += 8) {
            for (int yy = 0; yy < height; yy++)
                block_8_1(xpad, in_c, plane, ps, height, width, w, o, bias, y, accumulate, relu, yy, 0, vectors, mask);
        }
    }
    for (; o + 4 <= out_c; o += 4) {
        for (int yy = 0; yy < height; yy++) {
            int v = 0;
            for (; v + 2 <= vectors; v += 2)
                block_4_2(xpad, in_c, plane, ps, height, width, w, o, bias, y, accumulate, relu, yy, v, vectors, mask);
            if (v < vectors)
                block_4_1(xpad, in_c, plane, ps, height, width, w, o, bias, y, accumulate, relu, yy, v, vectors, mask);
        }
    }
    for (; o < out_c; o++) {
        for (int yy = 0; yy < height; yy++) {
            int v = 0;
            for (; v + 4 <= vectors; v += 4)
                block_1_4(xpad, in_c, plane, ps, height, width, w, o, bias, y, accumulate, relu, yy, v, vectors, mask);
            for (; v + 2 <= vectors; v += 2)
                block_1_2(xpad, in_c, plane, ps, height, width, w, o, bias, y, accumulate, relu, yy, v, vectors, mask);
            if (v < vectors)
                block_1_1(xpad, in_c, plane, ps, height, width, w, o, bias, y, accumulate, relu, yy, v, vectors, mask);
        }
    }
}

static inline __attribute__((target("avx2,fma"))) float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static __attribute__((target("avx2,fma"))) void wgrad_avx2(const float *xpad, int in_c, int height, int width,
                                                            const float *dy, const float *relu_y, int k0, int k1,
                                                            float *dw, float *db) {
    int ps = ae_conv3x3_row_stride(width);
    size_t plane = (size_t)(height + 2) * ps;
    int vectors = (width + 7) / 8;
    __m256i mask = tail_mask(width - (vectors - 1) * 8);
    for (int o = k0 / in_c; o * in_c < k1; o++) {
        int c0 = k0 > o * in_c ? k0 - o * in_c : 0, c1 = k1 - o * in_c < in_c ? k1 - o * in_c : in_c;
        const float *g = dy + (size_t)o * height * width;
        const float *gate = relu_y ? relu_y + (size_t)o * height * width : NULL;
        __m256 sum = _mm256_setzero_ps();
        for (int c = c0; c < c1; c++) {
            __m256 acc[9];
            for (int t = 0; t < 9; t++) acc[t] = _mm256_setzero_ps();
            for (int yy = 0; yy < height; yy++) {
                for (int v = 0; v < vectors; v++) {
                    const float *gp = g + (size_t)yy * width + v * 8;
                    __m256 gv = v == vectors - 1 ? _mm256_maskload_ps(gp, mask) : _mm256_loadu_ps(gp);
                    if (gate) {
                        const float *yp = gate + (size_t)yy * width + v * 8;
                        __m256 yv = v == vectors - 1 ? _mm256_maskload_ps(yp, mask) : _mm256_loadu_ps(yp);
                        gv = _mm256_and_ps(gv, _mm256_cmp_ps(yv, _mm256_setzero_ps(), _CMP_GT_OQ));
                    }
                    if (c == 0) sum = _mm256_add_ps(sum, gv);
                    const float *base = xpad + c * plane + (size_t)yy * ps + v * 8;
                    for (int ky = 0; ky < 3; ky++) {
                        const float *r = base + ky * ps;
                        acc[ky * 3] = _mm256_fmadd_ps(_mm256_loadu_ps(r), gv, acc[ky * 3]);
                        acc[ky * 3 + 1] = _mm256_fmadd_ps(_mm256_loadu_ps(r + 1), gv, acc[ky * 3 + 1]);
                        acc[ky * 3 + 2] = _mm256_fmadd_ps(_mm256_loadu_ps(r + 2), gv, acc[ky * 3 + 2]);
                    }
                }
            }
            float *d = dw + ((size_t)o * in_c + c) * 9;
            for (int t = 0; t < 9; t++) d[t] += hsum(acc[t]);
        }
        if (c0 == 0) db[o] += hsum(sum);
    }
}
#endif

static int use_avx2(int portable) {
#if defined(__x86_64__)
    if (portable) return 0;
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
#else
    return 0;
#endif
}

void ae_conv3x3(const float *xpad, int in_c, int height, int width, const float *w, const float *bias, int out_c,
                float *y, int accumulate, int relu, int portable) {
#if defined(__x86_64__)
    if (use_avx2(portable)) {
        conv_avx2(xpad, in_c, height, width, w, bias, out_c, y, accumulate, relu);
        return;
    }
#endif
    conv_scalar(xpad, in_c, height, width, w, bias, out_c, y, accumulate, relu);
}

void ae_relu_mask(const float *dy, const float *y, float *g, size_t n) {
    for (size_t i = 0; i < n; i++) g[i] = y[i] > 0 ? dy[i] : 0;
}

void ae_relu_inplace(float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
}

// The weight gradient of one image for the (output, input) channel pairs o * in_c + c in [k0, k1)
// (and the bias gradient of each output channel whose pair with c = 0 is there).
static void weight_grad_range(const float *xpad, int in_c, int height, int width, const float *dy,
                              const float *relu_y, int k0, int k1, float *dw, float *db, int portable) {
#if defined(__x86_64__)
    if (use_avx2(portable)) {
        wgrad_avx2(xpad, in_c, height, width, dy, relu_y, k0, k1, dw, db);
        return;
    }
#endif
    wgrad_scalar(xpad, in_c, height, width, dy, relu_y, k0, k1, dw, db);
}

void ae_conv3x3_weight_grad(const float *xpad, int in_c, int height, int width, const float *dy, const float *relu_y,
                            int out_c, float *dw, float *db, int portable) {
    weight_grad_range(xpad, in_c, height, width, dy, relu_y, 0, out_c * in_c, dw, db, portable);
}

// A layer's images on the shard's team. Forward and dx: one image per iteration (each image's
// planes are its own). The weight gradient: one range of (output, input) channel pairs per member,
// each adding its pairs' gradients image by image in order, so every sum has the order of one thread.
typedef struct {
    const float *x, *dy, *relu_y, *w, *bias;
    size_t x_stride, dy_stride, y_stride, cache_stride, dx_stride;
    float *cache, *y, *dx, *dw, *db;
    int rows, in_c, out_c, height, width, relu, portable, parts;
} conv_rows;

static size_t padded_plane(int height, int width) { return (size_t)(height + 2) * ae_conv3x3_row_stride(width); }

static void forward_row(void *context, size_t r) {
    const conv_rows *p = context;
    float *padded = p->cache + r * p->cache_stride;
    ae_conv3x3_pad(p->x + r * p->x_stride, NULL, padded, p->in_c, p->height, p->width);
    ae_conv3x3(padded, p->in_c, p->height, p->width, p->w, p->bias, p->out_c, p->y + r * p->y_stride, 0, p->relu,
               p->portable);
}

static void input_grad_row(void *context, size_t r) {
    const conv_rows *p = context;
    float *padded_dy = p->cache + r * p->cache_stride + padded_plane(p->height, p->width) * p->in_c;
    const float *gate = p->relu_y ? p->relu_y + r * p->y_stride : NULL;
    ae_conv3x3_pad(p->dy + r * p->dy_stride, gate, padded_dy, p->out_c, p->height, p->width);
    ae_conv3x3(padded_dy, p->out_c, p->height, p->width, p->w, NULL, p->in_c, p->dx + r * p->dx_stride, 1, 0,
               p->portable);
}

static void weight_grad_rows(const conv_rows *p, int k0, int k1, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        const float *gate = p->relu_y ? p->relu_y + (size_t)r * p->y_stride : NULL;
        weight_grad_range(p->cache + (size_t)r * p->cache_stride, p->in_c, p->height, p->width,
                          p->dy + (size_t)r * p->dy_stride, gate, k0, k1, p->dw, p->db, p->portable);
    }
}

static void weight_grad_part(void *context, size_t i) {
    const conv_rows *p = context;
    size_t pairs = (size_t)p->out_c * p->in_c;
    weight_grad_rows(p, (int)(pairs * i / p->parts), (int)(pairs * (i + 1) / p->parts), 0, p->rows);
}

void ae_conv3x3_forward_rows(const float *x, size_t x_stride, float *cache, size_t cache_stride, int rows, int in_c,
                             int height, int width, const float *w, const float *bias, int out_c, float *y,
                             size_t y_stride, int relu, int portable) {
    conv_rows p = {.x = x, .w = w, .bias = bias, .x_stride = x_stride, .y_stride = y_stride,
                   .cache_stride = cache_stride, .cache = cache, .y = y, .rows = rows, .in_c = in_c, .out_c = out_c,
                   .height = height, .width = width, .relu = relu, .portable = portable};
    ae_team_for(ae_team_current(), (size_t)rows, &p, forward_row);
}

void ae_conv3x3_backward_rows(const float *dy, size_t dy_stride, const float *relu_y, size_t y_stride, float *cache,
                              size_t cache_stride, int rows, int in_c, int height, int width, const float *flipped,
                              int out_c, float *dw, float *db, float *dx, size_t dx_stride, int portable) {
    conv_rows p = {.dy = dy, .relu_y = relu_y, .w = flipped, .dy_stride = dy_stride, .y_stride = y_stride,
                   .cache_stride = cache_stride, .dx_stride = dx_stride, .cache = cache, .dx = dx, .dw = dw, .db = db,
                   .rows = rows, .in_c = in_c, .out_c = out_c, .height = height, .width = width,
                   .portable = portable};
    ae_team *team = ae_team_current();
    if (ae_team_size(team) <= 1) {
        // Alone: each image's weight gradient and dx while its dy is in cache.
        for (int r = 0; r < rows; r++) {
            weight_grad_rows(&p, 0, out_c * in_c, r, r + 1);
            if (dx) input_grad_row(&p, (size_t)r);
        }
        return;
    }
    // By (output, input) channel pairs: a layer with fewer output channels than members still splits.
    p.parts = ae_team_size(team) < out_c * in_c ? ae_team_size(team) : out_c * in_c;
    ae_team_for(team, (size_t)p.parts, &p, weight_grad_part);
    if (dx) ae_team_for(team, (size_t)rows, &p, input_grad_row);
}

void ae_conv3x3_flip(const float *w, float *flipped, int out_c, int in_c) {
    for (int o = 0; o < out_c; o++) {
        for (int c = 0; c < in_c; c++) {
            for (int t = 0; t < 9; t++) flipped[((size_t)c * out_c + o) * 9 + t] = w[((size_t)o * in_c + c) * 9 + 8 - t];
        }
    }
}
