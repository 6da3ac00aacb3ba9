// Winograd F(4x4, 3x3) transforms for 3x3 'same' convolutions with many channels (Lavin & Gray
// 2016, points 0, +-1, +-2, inf). A 4x4 output tile needs 36 multiplies per channel pair instead
// of 144; the multiplies run as 36 GEMMs in Swift (Conv2D), these loops do the transforms.
// Layout: transformed tiles v[xi][c][t] with xi = 6 * row + column of the 6x6 tile and t a tile
// index: `tile_stride` per channel, a call's images owning those from `tile_offset` on. A call
// covers the rows of tiles [ty0, ty1) of each image (a strip, so that large images run in parts
// that stay in cache): image r's tiles at tile_offset + r * (ty1 - ty0) * nx, row-major. Tiles
// cover the image in 4x4 steps; tails read zeros and write nothing. The 1-D transforms run over
// blocks of about 256 tiles of a channel (several images when they are small), so they vectorise
// with long vectors and stay in cache; padded image rows are kept de-interleaved by x mod 4, so a
// tile's columns are contiguous.
#include "ckernels.h"
#include "ae_team.h"
#include "fastmath.h"
#include <string.h>

#define ASSUME_SAFE _Pragma("clang loop vectorize(assume_safety)")
#define INLINE static inline __attribute__((always_inline))

typedef struct {
    int nx, ny, tiles;
    size_t phase; // floats per x-phase of a de-interleaved padded row: padded x = 4 n + phase
    size_t row;   // 4 * phase
    size_t rows;  // padded rows: 4 ny + 2
} geometry;

INLINE geometry geometry_of(int height, int width) {
    geometry g;
    g.nx = (width + 3) / 4, g.ny = (height + 3) / 4, g.tiles = g.nx * g.ny;
    g.phase = (size_t)g.nx + 1, g.row = 4 * g.phase, g.rows = 4 * (size_t)g.ny + 2;
    return g;
}

// The tiles of an image's strip [ty0, ty1) of rows of tiles, and how many images a block of the
// transforms takes: about 256 tiles, so a block's streams stay in cache.
typedef struct {
    size_t tiles;
    int block;
} strip;

INLINE strip strip_of(geometry g, int ty0, int ty1) {
    strip s = {(size_t)(ty1 - ty0) * g.nx, 1};
    s.block = s.tiles >= 256 ? 1 : (int)(256 / s.tiles);
    return s;
}

// Tiles of the largest block of any call over `rows` images: the extent of its scratch streams.
INLINE size_t block_tiles(geometry g, int rows) {
    size_t all = (size_t)rows * g.tiles, most = g.tiles > 256 ? (size_t)g.tiles : 256;
    return all < most ? all : most;
}

int ae_wino_tiles(int height, int width) { return geometry_of(height, width).tiles; }

size_t ae_wino_scratch(int rows, int channels, int height, int width) {
    geometry g = geometry_of(height, width);
    size_t t = block_tiles(g, rows);
    size_t transforms = 72 * t, weights = 27 * (size_t)channels;
    return (transforms > weights ? transforms : weights) + g.rows * g.row + 2 * g.row + 16;
}

// Every transform below works channel by channel (each channel's tiles, plane and outputs its own),
// so on a shard's team the channels are split into one contiguous range per member, each with its
// own scratch (the caller's for member 0, the team's for the others, grown here before the loop so
// that helpers allocate nothing). The result does not depend on the team's size. Small calls run
// alone: waking the team costs more.
typedef void (*channel_range)(const void *args, int c0, int c1, float *scratch);

typedef struct {
    channel_range run;
    const void *args;
    int channels, parts;
    size_t scratch_floats;
    float *scratch;
    ae_team *team;
} channel_split;

enum { SPLIT_WORK = 1 << 15 };

static void channel_part(void *context, size_t i) {
    const channel_split *s = context;
    float *scratch = i == 0 ? s->scratch : ae_team_scratch(s->team, (int)i, s->scratch_floats);
    s->run(s->args, (int)((size_t)s->channels * i / s->parts), (int)((size_t)s->channels * (i + 1) / s->parts),
           scratch);
}

static void split_channels(channel_range run, const void *args, int channels, size_t work, size_t scratch_floats,
                           float *scratch) {
    ae_team *team = ae_team_current();
    int parts = ae_team_size(team);
    if (parts > channels) parts = channels;
    if (parts > 1 && work >= SPLIT_WORK) {
        int ready = 1;
        for (int i = 1; i < parts && ready; i++) ready = ae_team_scratch(team, i, scratch_floats) != NULL;
        if (ready) {
            channel_split s = {run, args, channels, parts, scratch_floats, scratch, team};
            ae_team_for(team, (size_t)parts, &s, channel_part);
            return;
        }
    }
    run(args, 0, channels, scratch);
}

// Floats of a transform's scratch for a call over `rows` images (the weights' need aside).
INLINE size_t transform_scratch(int rows, int height, int width) { return ae_wino_scratch(rows, 0, height, width); }

// The 1-D maps on n values of each of 6 (or 4) streams: in[k * is + t] -> out[k * os + t].
INLINE void bt6(const float *restrict in, size_t is, float *restrict out, size_t os, size_t n) {
    ASSUME_SAFE
    for (size_t t = 0; t < n; t++) {
        float i0 = in[t], i1 = in[is + t], i2 = in[2 * is + t], i3 = in[3 * is + t], i4 = in[4 * is + t],
              i5 = in[5 * is + t];
        out[t] = 4 * i0 - 5 * i2 + i4;
        out[os + t] = i3 + i4 - 4 * (i1 + i2);
        out[2 * os + t] = 4 * (i1 - i2) + i4 - i3;
        out[3 * os + t] = 2 * (i3 - i1) + i4 - i2;
        out[4 * os + t] = 2 * (i1 - i3) + i4 - i2;
        out[5 * os + t] = 4 * i1 - 5 * i3 + i5;
    }
}

// bt6 on a short run (one row of tiles): whole vectors of 8 (or 4) tiles, the last one shifted back
// to end at n, so no scalar remainder runs; the tiles it covers twice get the same values twice.
INLINE void bt6_row(const float *restrict in, size_t is, float *restrict out, size_t os, size_t n) {
    size_t w = n >= 8 ? 8 : n >= 4 ? 4 : 0;
    if (w == 0) {
        bt6(in, is, out, os, n);
        return;
    }
    for (size_t t = 0;; t += w) {
        if (t + w >= n) t = n - w;
        if (w == 8) bt6(in + t, is, out + t, os, 8);
        else bt6(in + t, is, out + t, os, 4);
        if (t + w >= n) break;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

// bt6 on a row of tiles with AVX-512: 16 tiles a vector, the last one masked (12 tiles at 48x48, 6
// and 3 at the U-Net's lower levels, where bt6_row ran two 8- or 4-wide vectors or scalars).
static __attribute__((target("avx512f"))) void bt6_row_512(const float *restrict in, size_t is, float *restrict out,
                                                           size_t os, size_t n) {
    for (size_t t = 0; t < n; t += 16) {
        __mmask16 k = n - t >= 16 ? 0xFFFF : (__mmask16)((1u << (n - t)) - 1);
        __m512 i0 = _mm512_maskz_loadu_ps(k, in + t), i1 = _mm512_maskz_loadu_ps(k, in + is + t),
               i2 = _mm512_maskz_loadu_ps(k, in + 2 * is + t), i3 = _mm512_maskz_loadu_ps(k, in + 3 * is + t),
               i4 = _mm512_maskz_loadu_ps(k, in + 4 * is + t), i5 = _mm512_maskz_loadu_ps(k, in + 5 * is + t);
        __m512 four = _mm512_set1_ps(4), five = _mm512_set1_ps(5), two = _mm512_set1_ps(2);
        __m512 s12 = _mm512_add_ps(i1, i2), d12 = _mm512_sub_ps(i1, i2), d42 = _mm512_sub_ps(i4, i2);
        __m512 d31 = _mm512_sub_ps(i3, i1);
        _mm512_mask_storeu_ps(out + t, k, _mm512_fmadd_ps(four, i0, _mm512_fnmadd_ps(five, i2, i4)));
        _mm512_mask_storeu_ps(out + os + t, k, _mm512_fnmadd_ps(four, s12, _mm512_add_ps(i3, i4)));
        _mm512_mask_storeu_ps(out + 2 * os + t, k, _mm512_fmadd_ps(four, d12, _mm512_sub_ps(i4, i3)));
        _mm512_mask_storeu_ps(out + 3 * os + t, k, _mm512_fmadd_ps(two, d31, d42));
        _mm512_mask_storeu_ps(out + 4 * os + t, k, _mm512_fnmadd_ps(two, d31, d42));
        _mm512_mask_storeu_ps(out + 5 * os + t, k, _mm512_fmadd_ps(four, i1, _mm512_fnmadd_ps(five, i3, i5)));
    }
}
#endif

// bt6_row, or with `wide` (the CPU has AVX-512) bt6_row_512.
INLINE void bt6_row_on(int wide, const float *restrict in, size_t is, float *restrict out, size_t os, size_t n) {
#if defined(__x86_64__)
    if (wide) {
        bt6_row_512(in, is, out, os, n);
        return;
    }
#endif
    (void)wide;
    bt6_row(in, is, out, os, n);
}

INLINE void b6(const float *restrict in, size_t is, float *restrict out, size_t os, size_t n) {
    ASSUME_SAFE
    for (size_t t = 0; t < n; t++) {
        float i0 = in[t], i1 = in[is + t], i2 = in[2 * is + t], i3 = in[3 * is + t], i4 = in[4 * is + t],
              i5 = in[5 * is + t];
        out[t] = 4 * i0;
        out[os + t] = 4 * (i2 - i1 + i5) + 2 * (i4 - i3);
        out[2 * os + t] = -5 * i0 - 4 * (i1 + i2) - i3 - i4;
        out[3 * os + t] = i1 - i2 + 2 * (i3 - i4) - 5 * i5;
        out[4 * os + t] = i0 + i1 + i2 + i3 + i4;
        out[5 * os + t] = i5;
    }
}

INLINE void at6(const float *restrict in, size_t is, float *restrict out, size_t os, size_t n) {
    ASSUME_SAFE
    for (size_t t = 0; t < n; t++) {
        float i0 = in[t], i1 = in[is + t], i2 = in[2 * is + t], i3 = in[3 * is + t], i4 = in[4 * is + t],
              i5 = in[5 * is + t];
        float s12 = i1 + i2, d12 = i1 - i2, s34 = i3 + i4, d34 = i3 - i4;
        out[t] = i0 + s12 + s34;
        out[os + t] = d12 + 2 * d34;
        out[2 * os + t] = s12 + 4 * s34;
        out[3 * os + t] = d12 + 8 * d34 + i5;
    }
}

INLINE void a4(const float *restrict in, size_t is, float *restrict out, size_t os, size_t n) {
    ASSUME_SAFE
    for (size_t t = 0; t < n; t++) {
        float i0 = in[t], i1 = in[is + t], i2 = in[2 * is + t], i3 = in[3 * is + t];
        out[t] = i0;
        out[os + t] = i0 + i1 + i2 + i3;
        out[2 * os + t] = i0 - i1 + i2 - i3;
        out[3 * os + t] = i0 + 2 * i1 + 4 * i2 + 8 * i3;
        out[4 * os + t] = i0 - 2 * i1 + 4 * i2 - 8 * i3;
        out[5 * os + t] = i3;
    }
}

// G (3 -> 6) and its adjoint G^T (6 -> 3), for the kernels.
INLINE void g3(const float *restrict in, size_t is, float *restrict out, size_t os, size_t n) {
    ASSUME_SAFE
    for (size_t t = 0; t < n; t++) {
        float g0 = in[t], g1 = in[is + t], g2 = in[2 * is + t];
        out[t] = g0 * 0.25f;
        out[os + t] = -(g0 + g1 + g2) * (1.0f / 6);
        out[2 * os + t] = -(g0 - g1 + g2) * (1.0f / 6);
        out[3 * os + t] = g0 * (1.0f / 24) + g1 * (1.0f / 12) + g2 * (1.0f / 6);
        out[4 * os + t] = g0 * (1.0f / 24) - g1 * (1.0f / 12) + g2 * (1.0f / 6);
        out[5 * os + t] = g2;
    }
}

INLINE void gt6(const float *restrict in, size_t is, float *restrict out, size_t os, size_t n) {
    ASSUME_SAFE
    for (size_t t = 0; t < n; t++) {
        float i0 = in[t], i1 = in[is + t], i2 = in[2 * is + t], i3 = in[3 * is + t], i4 = in[4 * is + t],
              i5 = in[5 * is + t];
        out[t] = i0 * 0.25f - (i1 + i2) * (1.0f / 6) + (i3 + i4) * (1.0f / 24);
        out[os + t] = (i2 - i1) * (1.0f / 6) + (i3 - i4) * (1.0f / 12);
        out[2 * os + t] = (i3 + i4 - i1 - i2) * (1.0f / 6) + i5;
    }
}

typedef struct { const float *w; int out_c, in_c; float *u; } weights_args;

static CLONES void weights_range(const void *args, int o0, int o1, float *scratch) {
    const weights_args *p = args;
    const float *w = p->w;
    float *u = p->u;
    size_t c = (size_t)p->in_c, pairs = (size_t)p->out_c * p->in_c;
    float *k = scratch, *half = k + 9 * c;
    for (int o = o0; o < o1; o++) {
        // k[i][j][c] = w[o][c][i][j]; half[a][j] = G k[.][j]; u[a][b][o][c] = G half[a][.].
        const float *src = w + (size_t)o * c * 9;
        for (size_t q = 0; q < c; q++)
            for (int ij = 0; ij < 9; ij++) k[ij * c + q] = src[q * 9 + ij];
        for (int j = 0; j < 3; j++) g3(k + j * c, 3 * c, half + j * c, 3 * c, c);
        for (int a = 0; a < 6; a++) g3(half + a * 3 * c, c, u + (size_t)a * 6 * pairs + o * c, pairs, c);
    }
}

void ae_wino_weights(const float *w, int out_c, int in_c, float *u, float *scratch) {
    weights_args a = {w, out_c, in_c, u};
    split_channels(weights_range, &a, out_c, 36 * (size_t)out_c * in_c, 27 * (size_t)in_c, scratch);
}

typedef struct { const float *du; int out_c, in_c; float *dw; } weight_grad_args;

static CLONES void weight_grad_range(const void *args, int o0, int o1, float *scratch) {
    const weight_grad_args *p = args;
    const float *du = p->du;
    float *dw = p->dw;
    size_t c = (size_t)p->in_c, pairs = (size_t)p->out_c * p->in_c;
    float *half = scratch, *k = half + 18 * c;
    for (int o = o0; o < o1; o++) {
        // half[a][j][c] = G^T du[a][.][o][c]; k[i][j] = G^T half[.][j]; dw[o][c][i][j] += k.
        for (int a = 0; a < 6; a++) gt6(du + (size_t)a * 6 * pairs + o * c, pairs, half + a * 3 * c, c, c);
        for (int j = 0; j < 3; j++) gt6(half + j * c, 3 * c, k + j * c, 3 * c, c);
        float *dst = dw + (size_t)o * c * 9;
        for (size_t q = 0; q < c; q++)
            for (int ij = 0; ij < 9; ij++) dst[q * 9 + ij] += k[ij * c + q];
    }
}

void ae_wino_weight_grad(const float *du, int out_c, int in_c, float *dw, float *scratch) {
    weight_grad_args a = {du, out_c, in_c, dw};
    split_channels(weight_grad_range, &a, out_c, 36 * (size_t)out_c * in_c, 27 * (size_t)in_c, scratch);
}

// A row of `width` floats into cache ahead of its use: the transforms walk the channels' planes one
// after the other, and the next channel's row is read (or written) one plane later. The hardware
// prefetchers left their loads of x, dy and dx stalling (+7% training, +10% inference for x alone).
INLINE void prefetch_row(const float *p, int width) {
    for (int i = 0; i < width; i += 16) __builtin_prefetch(p + i);
}

INLINE void prefetch_row_for_write(const float *p, int width) {
    for (int i = 0; i < width; i += 16) __builtin_prefetch(p + i, 1);
}

// Padded rows [y0, y1) of an image plane into the de-interleaved zero-padded layout: padded row y,
// phase q, index n holds x[y - 1][4 n + q - 1] (0 outside the image), at plane row y - y0.
INLINE void load_plane(const float *src, int height, int width, geometry g, size_t y0, size_t y1,
                       float *restrict plane, float *restrict line, size_t ahead) {
    for (size_t y = y0; y < y1; y++) {
        float *dst = plane + (y - y0) * g.row;
        int iy = (int)y - 1;
        if (iy < 0 || iy >= height) {
            memset(dst, 0, sizeof(float) * g.row);
            continue;
        }
        const float *s = src + (size_t)iy * width;
        prefetch_row(s + ahead, width);
        line[0] = 0;
        for (int i = 0; i < width; i++) line[i + 1] = s[i];
        for (size_t i = (size_t)width + 1; i < g.row; i++) line[i] = 0;
        for (size_t n = 0; n < g.phase; n++) {
            dst[n] = line[4 * n];
            dst[g.phase + n] = line[4 * n + 1];
            dst[2 * g.phase + n] = line[4 * n + 2];
            dst[3 * g.phase + n] = line[4 * n + 3];
        }
    }
}

typedef struct {
    const float *x;
    size_t x_stride;
    int rows, channels, height, width, ty0, ty1;
    float *v;
    size_t tile_stride, tile_offset;
} input_args;

static CLONES void input_range(const void *args, int c0, int c1, float *scratch) {
    const input_args *p = args;
    const float *x = p->x;
    size_t x_stride = p->x_stride, tile_stride = p->tile_stride, tile_offset = p->tile_offset;
    int rows = p->rows, channels = p->channels, height = p->height, width = p->width, ty0 = p->ty0, ty1 = p->ty1;
    float *v = p->v;
    geometry g = geometry_of(height, width);
    strip s = strip_of(g, ty0, ty1);
    size_t plane_size = (size_t)height * width, xi_stride = (size_t)channels * tile_stride;
    float *e = scratch, *plane = e + 36 * block_tiles(g, rows), *line = plane + g.rows * g.row;
    int wide = ae_gemm_products_kernel() == 512;
    for (int c = c0; c < c1; c++) {
        for (int r0 = 0; r0 < rows; r0 += s.block) {
            int r1 = r0 + s.block < rows ? r0 + s.block : rows;
            size_t tc = (size_t)(r1 - r0) * s.tiles;
            // Along y (m -> a) straight from the padded plane, per tile row and column n.
            for (int r = r0; r < r1; r++) {
                load_plane(x + r * x_stride + c * plane_size, height, width, g, 4 * (size_t)ty0, 4 * (size_t)ty1 + 2,
                           plane, line, plane_size);
                for (int ty = ty0; ty < ty1; ty++) {
                    size_t t0 = (size_t)(r - r0) * s.tiles + (size_t)(ty - ty0) * g.nx;
                    const float *prow = plane + (size_t)(4 * (ty - ty0)) * g.row;
                    for (int n = 0; n < 6; n++)
                        bt6_row_on(wide, prow + (n & 3) * g.phase + (n >> 2), g.row, e + n * tc + t0, 6 * tc,
                                   (size_t)g.nx);
                }
            }
            // Along x (n -> b) into v[a][b][c].
            for (int a = 0; a < 6; a++)
                bt6(e + a * 6 * tc, tc, v + a * 6 * xi_stride + c * tile_stride + tile_offset + (size_t)r0 * s.tiles,
                    xi_stride, tc);
        }
    }
}

void ae_wino_input(const float *x, size_t x_stride, int rows, int channels, int height, int width, int ty0, int ty1,
                   float *v, size_t tile_stride, size_t tile_offset, float *scratch) {
    input_args a = {x, x_stride, rows, channels, height, width, ty0, ty1, v, tile_stride, tile_offset};
    size_t tiles = (size_t)rows * (ty1 - ty0) * ((width + 3) / 4);
    split_channels(input_range, &a, channels, 36 * tiles * channels, transform_scratch(rows, height, width), scratch);
}

typedef struct {
    const float *m;
    size_t tile_stride, tile_offset;
    int rows, out_c, height, width, ty0, ty1;
    const float *bias;
    int relu;
    float *y;
    size_t y_stride;
} output_args;

static CLONES void output_range(const void *args, int k0, int k1, float *scratch) {
    const output_args *p = args;
    const float *m = p->m, *bias = p->bias;
    size_t tile_stride = p->tile_stride, tile_offset = p->tile_offset, y_stride = p->y_stride;
    int rows = p->rows, out_c = p->out_c, height = p->height, width = p->width, ty0 = p->ty0, ty1 = p->ty1;
    int relu = p->relu;
    float *y = p->y;
    geometry g = geometry_of(height, width);
    strip s = strip_of(g, ty0, ty1);
    size_t plane_size = (size_t)height * width, xi_stride = (size_t)out_c * tile_stride, bt = block_tiles(g, rows);
    float *o = scratch, *yt = o + 24 * bt, *line = yt + 16 * bt;
    for (int k = k0; k < k1; k++) {
        float b = bias ? bias[k] : 0;
        for (int r0 = 0; r0 < rows; r0 += s.block) {
            int r1 = r0 + s.block < rows ? r0 + s.block : rows;
            size_t tc = (size_t)(r1 - r0) * s.tiles;
            const float *mk = m + k * tile_stride + tile_offset + (size_t)r0 * s.tiles;
            // Along x (b -> j): o[a][j]; along y (a -> i): yt[i][j].
            for (int a = 0; a < 6; a++) at6(mk + a * 6 * xi_stride, xi_stride, o + a * 4 * tc, tc, tc);
            for (int j = 0; j < 4; j++) at6(o + j * tc, 4 * tc, yt + j * tc, 4 * tc, tc);
            for (int r = r0; r < r1; r++) {
                for (int ty = ty0; ty < ty1; ty++) {
                    size_t t0 = (size_t)(r - r0) * s.tiles + (size_t)(ty - ty0) * g.nx;
                    for (int i = 0; i < 4 && 4 * ty + i < height; i++) {
                        const float *s0 = yt + (size_t)(i * 4) * tc + t0, *s1 = s0 + tc, *s2 = s1 + tc, *s3 = s2 + tc;
                        for (int tx = 0; tx < g.nx; tx++) {
                            line[4 * tx] = s0[tx], line[4 * tx + 1] = s1[tx];
                            line[4 * tx + 2] = s2[tx], line[4 * tx + 3] = s3[tx];
                        }
                        float *dst = y + r * y_stride + k * plane_size + (size_t)(4 * ty + i) * width;
                        prefetch_row_for_write(dst + plane_size, width);
                        if (relu) {
                            for (int q = 0; q < width; q++) dst[q] = __builtin_fmaxf(line[q] + b, 0);
                        } else {
                            for (int q = 0; q < width; q++) dst[q] = line[q] + b;
                        }
                    }
                }
            }
        }
    }
}

void ae_wino_output(const float *m, size_t tile_stride, size_t tile_offset, int rows, int out_c, int height,
                    int width, int ty0, int ty1, const float *bias, int relu, float *y, size_t y_stride,
                    float *scratch) {
    output_args a = {m, tile_stride, tile_offset, rows, out_c, height, width, ty0, ty1, bias, relu, y, y_stride};
    size_t tiles = (size_t)rows * (ty1 - ty0) * ((width + 3) / 4);
    split_channels(output_range, &a, out_c, 36 * tiles * out_c, transform_scratch(rows, height, width), scratch);
}

typedef struct {
    const float *dy;
    size_t dy_stride;
    const float *relu_y;
    size_t y_stride;
    int rows, out_c, height, width, ty0, ty1;
    float *dm;
    size_t tile_stride, tile_offset;
    float *db;
} output_grad_args;

static CLONES void output_grad_range(const void *args, int k0, int k1, float *scratch) {
    const output_grad_args *p = args;
    const float *dy = p->dy, *relu_y = p->relu_y;
    size_t dy_stride = p->dy_stride, y_stride = p->y_stride, tile_stride = p->tile_stride, tile_offset = p->tile_offset;
    int rows = p->rows, out_c = p->out_c, height = p->height, width = p->width, ty0 = p->ty0, ty1 = p->ty1;
    float *dm = p->dm, *db = p->db;
    geometry g = geometry_of(height, width);
    strip s = strip_of(g, ty0, ty1);
    size_t plane_size = (size_t)height * width, xi_stride = (size_t)out_c * tile_stride, bt = block_tiles(g, rows);
    float *d = scratch, *q = d + 16 * bt, *line = q + 24 * bt;
    for (int k = k0; k < k1; k++) {
        float sum = 0;
        for (int r0 = 0; r0 < rows; r0 += s.block) {
            int r1 = r0 + s.block < rows ? r0 + s.block : rows;
            size_t tc = (size_t)(r1 - r0) * s.tiles;
            // d[i][j][t] = dy at (4 ty + i, 4 tx + j), masked by the fused ReLU, 0 outside.
            for (int r = r0; r < r1; r++) {
                for (int ty = ty0; ty < ty1; ty++) {
                    size_t t0 = (size_t)(r - r0) * s.tiles + (size_t)(ty - ty0) * g.nx;
                    for (int i = 0; i < 4; i++) {
                        int yy = 4 * ty + i;
                        if (yy < height) {
                            size_t offset = k * plane_size + (size_t)yy * width;
                            const float *src = dy + r * dy_stride + offset;
                            prefetch_row(src + plane_size, width);
                            if (relu_y) {
                                const float *gate = relu_y + r * y_stride + offset;
                                prefetch_row(gate + plane_size, width);
                                for (int p = 0; p < width; p++) line[p] = gate[p] > 0 ? src[p] : 0;
                            } else {
                                for (int p = 0; p < width; p++) line[p] = src[p];
                            }
                            for (int p = 0; p < width; p++) sum += line[p];
                            for (int p = width; p < 4 * g.nx; p++) line[p] = 0;
                        } else {
                            for (int p = 0; p < 4 * g.nx; p++) line[p] = 0;
                        }
                        float *d0 = d + (size_t)(i * 4) * tc + t0, *d1 = d0 + tc, *d2 = d1 + tc, *d3 = d2 + tc;
                        for (int tx = 0; tx < g.nx; tx++) {
                            d0[tx] = line[4 * tx], d1[tx] = line[4 * tx + 1];
                            d2[tx] = line[4 * tx + 2], d3[tx] = line[4 * tx + 3];
                        }
                    }
                }
            }
            // Along y (i -> a) per column, then along x (j -> b) into dm[a][b][k].
            for (int j = 0; j < 4; j++) a4(d + j * tc, 4 * tc, q + j * tc, 4 * tc, tc);
            for (int a = 0; a < 6; a++)
                a4(q + a * 4 * tc, tc, dm + a * 6 * xi_stride + k * tile_stride + tile_offset + (size_t)r0 * s.tiles,
                   xi_stride, tc);
        }
        db[k] += sum;
    }
}

void ae_wino_output_grad(const float *dy, size_t dy_stride, const float *relu_y, size_t y_stride, int rows,
                         int out_c, int height, int width, int ty0, int ty1, float *dm, size_t tile_stride,
                         size_t tile_offset, float *db, float *scratch) {
    output_grad_args a = {dy, dy_stride, relu_y, y_stride, rows, out_c, height, width, ty0, ty1, dm, tile_stride,
                          tile_offset, db};
    size_t tiles = (size_t)rows * (ty1 - ty0) * ((width + 3) / 4);
    split_channels(output_grad_range, &a, out_c, 36 * tiles * out_c, transform_scratch(rows, height, width), scratch);
}

typedef struct {
    const float *dv;
    size_t tile_stride, tile_offset;
    int rows, channels, height, width, ty0, ty1;
    float *dx;
    size_t dx_stride;
} input_grad_args;

static CLONES void input_grad_range(const void *args, int c0, int c1, float *scratch) {
    const input_grad_args *p = args;
    const float *dv = p->dv;
    size_t tile_stride = p->tile_stride, tile_offset = p->tile_offset, dx_stride = p->dx_stride;
    int rows = p->rows, channels = p->channels, height = p->height, width = p->width, ty0 = p->ty0, ty1 = p->ty1;
    float *dx = p->dx;
    geometry g = geometry_of(height, width);
    strip s = strip_of(g, ty0, ty1);
    size_t plane_size = (size_t)height * width, xi_stride = (size_t)channels * tile_stride, bt = block_tiles(g, rows);
    float *e = scratch, *f = e + 36 * bt, *plane = f + 36 * bt, *line = plane + g.rows * g.row;
    for (int c = c0; c < c1; c++) {
        for (int r0 = 0; r0 < rows; r0 += s.block) {
            int r1 = r0 + s.block < rows ? r0 + s.block : rows;
            size_t tc = (size_t)(r1 - r0) * s.tiles;
            // Along x (b -> n): e[a][n]; along y (a -> m): f[m][n], each tile's input-patch gradient.
            const float *dvc = dv + c * tile_stride + tile_offset + (size_t)r0 * s.tiles;
            for (int a = 0; a < 6; a++) b6(dvc + a * 6 * xi_stride, xi_stride, e + a * 6 * tc, tc, tc);
            for (int n = 0; n < 6; n++) b6(e + n * tc, 6 * tc, f + n * tc, 6 * tc, tc);
            for (int r = r0; r < r1; r++) {
                // Patches overlap by two pixels: add them into the de-interleaved padded plane (the
                // strip's padded rows), then add its interior into dx (strips overlap there too).
                size_t y0 = 4 * (size_t)ty0, y1 = 4 * (size_t)ty1 + 2;
                memset(plane, 0, sizeof(float) * (y1 - y0) * g.row);
                for (int ty = ty0; ty < ty1; ty++) {
                    size_t t0 = (size_t)(r - r0) * s.tiles + (size_t)(ty - ty0) * g.nx;
                    for (int m = 0; m < 6; m++) {
                        float *prow = plane + (size_t)(4 * (ty - ty0) + m) * g.row;
                        for (int n = 0; n < 6; n++) {
                            float *dst = prow + (n & 3) * g.phase + (n >> 2);
                            const float *s = f + (size_t)(m * 6 + n) * tc + t0;
                            for (int tx = 0; tx < g.nx; tx++) dst[tx] += s[tx];
                        }
                    }
                }
                int yy1 = (int)y1 - 1 < height ? (int)y1 - 1 : height;
                for (int yy = y0 > 0 ? (int)y0 - 1 : 0; yy < yy1; yy++) {
                    const float *src = plane + ((size_t)yy + 1 - y0) * g.row;
                    for (size_t n = 0; n < g.phase; n++) {
                        line[4 * n] = src[n], line[4 * n + 1] = src[g.phase + n];
                        line[4 * n + 2] = src[2 * g.phase + n], line[4 * n + 3] = src[3 * g.phase + n];
                    }
                    float *dst = dx + r * dx_stride + c * plane_size + (size_t)yy * width;
                    prefetch_row_for_write(dst + plane_size, width);
                    for (int i = 0; i < width; i++) dst[i] += line[i + 1];
                }
            }
        }
    }
}

void ae_wino_input_grad(const float *dv, size_t tile_stride, size_t tile_offset, int rows, int channels, int height,
                        int width, int ty0, int ty1, float *dx, size_t dx_stride, float *scratch) {
    input_grad_args a = {dv, tile_stride, tile_offset, rows, channels, height, width, ty0, ty1, dx, dx_stride};
    size_t tiles = (size_t)rows * (ty1 - ty0) * ((width + 3) / 4);
    split_channels(input_grad_range, &a, channels, 36 * tiles * channels, transform_scratch(rows, height, width),
                   scratch);
}

// The 36 products of a part, one per point xi (each its own GEMM, so the team splits them whole and
// the sums keep their order): c[xi] = a[xi] b[xi], and the weights' gradient du[xi] (+)= dm[xi] v[xi]^T
// with v[xi] transposed first into a member's slot of dv's region (free until dv is made).
typedef struct {
    int m, n, k, transpose_a, accumulate, members;
    const float *a, *b;
    size_t a_xi, b_xi, ldb;
    float *c;
    size_t c_xi, ldc;
    float *slots;
    size_t slot;
} products_args;

static void product_task(void *context, size_t xi) {
    const products_args *p = context;
    const float *a = p->a + xi * p->a_xi;
    size_t a_rs = p->transpose_a ? 1 : (size_t)p->k, a_cs = p->transpose_a ? (size_t)p->m : 1;
    ae_gemm_nn(p->m, p->n, p->k, a, a_rs, a_cs, p->b + xi * p->b_xi, p->ldb, p->c + xi * p->c_xi, p->ldc, 0);
}

static void weight_product_task(void *context, size_t xi) {
    const products_args *p = context;
    // m = out_c, n = in_c, k = the part's tiles; a = dm, b = v (in_c x tiles, rows ldb apart).
    float *t = p->slots + (xi % (size_t)p->members) * p->slot;
    ae_transpose(p->n, p->k, p->b + xi * p->b_xi, p->ldb, t, (size_t)p->n);
    ae_gemm_nn(p->m, p->n, p->k, p->a + xi * p->a_xi, p->ldb, 1, t, (size_t)p->n,
               p->c + xi * (size_t)p->m * p->n, (size_t)p->n, p->accumulate);
}

void ae_wino_products(int m, int n, int k, const float *a, int transpose_a, const float *b, size_t b_xi, size_t ldb,
                      float *c, size_t c_xi, size_t ldc) {
    products_args p = {m, n, k, transpose_a, 0, 1, a, b, (size_t)m * k, b_xi, ldb, c, c_xi, ldc, NULL, 0};
    ae_team *team = ae_team_current();
    if ((size_t)m * n * k < SPLIT_WORK) team = NULL;
    ae_team_for(team, 36, &p, product_task);
}

void ae_wino_weight_products(int out_c, int in_c, int tiles, const float *dm, const float *v, size_t tile_stride,
                             float *du, int accumulate, float *slots) {
    ae_team *team = ae_team_current();
    if ((size_t)out_c * in_c * tiles < SPLIT_WORK) team = NULL;
    int members = ae_team_size(team) < 36 ? ae_team_size(team) : 36;
    products_args p = {out_c, in_c, tiles, 0, accumulate, members, dm, v, (size_t)out_c * tile_stride,
                       (size_t)in_c * tile_stride, tile_stride, du, 0, 0, slots, (size_t)in_c * tile_stride};
    ae_team_for(team, 36, &p, weight_product_task);
}
