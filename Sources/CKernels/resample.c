// Fast paths for the pooling and upsampling layers' common cases (2x2 max-pool with stride 2,
// nearest upsampling by an integer factor): per-element integer division and generic window
// loops cost more than the convolutions around them in small networks such as M2.
#include "ae_team.h"
#include "ckernels.h"
#include <stdint.h>

/// Planes [p0, p1) of one sample.
static void maxpool2x2(const float *x, float *y, float *argmax, int p0, int p1, int height, int width) {
    int oh = height / 2, ow = width / 2;
    // The argmax slots hold int32 indices in float-sized storage (exact for any image size).
    int32_t *index = (int32_t *)argmax + (size_t)p0 * oh * ow;
    y += (size_t)p0 * oh * ow;
    for (int p = p0; p < p1; p++) {
        const float *plane = x + (size_t)p * height * width;
        int base = p * height * width;
        for (int oy = 0; oy < oh; oy++) {
            const float *r0 = plane + (size_t)(2 * oy) * width, *r1 = r0 + width;
            int i0 = base + 2 * oy * width;
            for (int ox = 0; ox < ow; ox++) {
                // Row-major window order, first maximum wins; a NaN wins (PyTorch propagates it).
                // Selects instead of branches: the comparisons are unpredictable.
                float best = r0[2 * ox];
                int at = i0 + 2 * ox;
                float v = r0[2 * ox + 1];
                int take = v > best || v != v;
                best = take ? v : best;
                at = take ? i0 + 2 * ox + 1 : at;
                v = r1[2 * ox];
                take = v > best || v != v;
                best = take ? v : best;
                at = take ? i0 + width + 2 * ox : at;
                v = r1[2 * ox + 1];
                take = v > best || v != v;
                best = take ? v : best;
                at = take ? i0 + width + 2 * ox + 1 : at;
                *y++ = best;
                *index++ = at;
            }
        }
    }
}


static void upsample2(const float *x, float *y, int p0, int p1, int height, int width) {
    int ow = 2 * width;
    y += (size_t)p0 * height * 2 * ow;
    for (int p = p0; p < p1; p++) {
        for (int iy = 0; iy < height; iy++, y += 2 * ow) {
            const float *line = x + ((size_t)p * height + iy) * width;
            for (int ix = 0; ix < width; ix++) {
                y[2 * ix] = line[ix];
                y[2 * ix + 1] = line[ix];
            }
            for (int i = 0; i < ow; i++) y[ow + i] = y[i];
        }
    }
}

static void upsample2_backward(const float *dy, float *dx, int p0, int p1, int height, int width) {
    int ow = 2 * width;
    dy += (size_t)p0 * height * 2 * ow;
    for (int p = p0; p < p1; p++) {
        for (int iy = 0; iy < height; iy++, dy += 2 * ow) {
            float *line = dx + ((size_t)p * height + iy) * width;
            const float *d1 = dy + ow;
            for (int ix = 0; ix < width; ix++) line[ix] += (dy[2 * ix] + dy[2 * ix + 1]) + (d1[2 * ix] + d1[2 * ix + 1]);
        }
    }
}

static void upsample(const float *x, float *y, int p0, int p1, int height, int width, int scale) {
    if (scale == 2) {
        upsample2(x, y, p0, p1, height, width);
        return;
    }
    int ow = width * scale;
    y += (size_t)p0 * height * scale * ow;
    for (int p = p0; p < p1; p++) {
        const float *plane = x + (size_t)p * height * width;
        for (int iy = 0; iy < height; iy++) {
            float *first = y;
            const float *line = plane + (size_t)iy * width;
            for (int ix = 0; ix < width; ix++) {
                float v = line[ix];
                for (int k = 0; k < scale; k++) *y++ = v;
            }
            for (int k = 1; k < scale; k++, y += ow) {
                for (int i = 0; i < ow; i++) y[i] = first[i];
            }
        }
    }
}

static void upsample_backward(const float *dy, float *dx, int p0, int p1, int height, int width, int scale) {
    if (scale == 2) {
        upsample2_backward(dy, dx, p0, p1, height, width);
        return;
    }
    int ow = width * scale;
    dy += (size_t)p0 * height * scale * ow;
    for (int p = p0; p < p1; p++) {
        for (int iy = 0; iy < height; iy++) {
            float *line = dx + ((size_t)p * height + iy) * width;
            for (int k = 0; k < scale; k++, dy += ow) {
                for (int ix = 0; ix < width; ix++) {
                    float s = 0;
                    for (int j = 0; j < scale; j++) s += dy[ix * scale + j];
                    line[ix] += s;
                }
            }
        }
    }
}

// Several samples on the calling shard's team: by images, or with fewer images than members, the
// (sample, plane) pairs in contiguous parts (no sums cross a plane: the bits of one thread).
enum { MAXPOOL, MAXPOOL_BACKWARD, UPSAMPLE, UPSAMPLE_BACKWARD };

typedef struct {
    const float *in;
    float *out, *argmax;
    size_t in_stride, out_stride, argmax_stride;
    int rows, planes, height, width, scale, parts, op;
} plane_rows;

/// dx[argmax[o]] += dy[o] for the outputs of planes [p0, p1) (`outputs` per plane); a window's
/// maximum lies in its own plane, so planes are independent.
static void maxpool_backward(const float *dy, float *dx, const float *argmax, int p0, int p1, int outputs) {
    const int32_t *index = (const int32_t *)argmax;
    for (size_t o = (size_t)p0 * outputs; o < (size_t)p1 * outputs; o++) dx[index[o]] += dy[o];
}

static void planes(const plane_rows *p, size_t r, int p0, int p1) {
    const float *in = p->in + r * p->in_stride;
    float *out = p->out + r * p->out_stride;
    switch (p->op) {
    case MAXPOOL: maxpool2x2(in, out, p->argmax + r * p->argmax_stride, p0, p1, p->height, p->width); break;
    case MAXPOOL_BACKWARD:
        maxpool_backward(in, out, p->argmax + r * p->argmax_stride, p0, p1, p->height * p->width);
        break;
    case UPSAMPLE: upsample(in, out, p0, p1, p->height, p->width, p->scale); break;
    default: upsample_backward(in, out, p0, p1, p->height, p->width, p->scale); break;
    }
}

static void plane_row(void *context, size_t r) {
    const plane_rows *p = context;
    planes(p, r, 0, p->planes);
}

static void plane_part(void *context, size_t i) {
    const plane_rows *p = context;
    size_t total = (size_t)p->rows * p->planes;
    size_t first = total * i / p->parts, end = total * (i + 1) / p->parts;
    while (first < end) {
        size_t r = first / p->planes;
        int p0 = (int)(first % p->planes);
        int p1 = end - r * p->planes < (size_t)p->planes ? (int)(end - r * p->planes) : p->planes;
        planes(p, r, p0, p1);
        first = r * p->planes + (size_t)p1;
    }
}

static void plane_rows_run(plane_rows *p) {
    ae_team *team = ae_team_current();
    int size = ae_team_size(team);
    if (p->rows >= size) {
        // Image r on member r % size, where the convolutions' loops by rows put it.
        ae_team_for(team, (size_t)p->rows, p, plane_row);
        return;
    }
    // Fewer images than members: parts of at least a few planes (smaller ones cost more to hand
    // out than to compute).
    size_t total = (size_t)p->rows * p->planes;
    size_t parts = total / 4 < (size_t)size ? total / 4 : (size_t)size;
    p->parts = parts < 1 ? 1 : (int)parts;
    ae_team_for(team, (size_t)p->parts, p, plane_part);
}

void ae_maxpool2x2_rows(const float *x, size_t x_stride, float *y, size_t y_stride, float *argmax,
                        size_t argmax_stride, int rows, int planes, int height, int width) {
    plane_rows p = {.in = x, .out = y, .argmax = argmax, .in_stride = x_stride, .out_stride = y_stride,
                    .argmax_stride = argmax_stride, .rows = rows, .planes = planes, .height = height,
                    .width = width, .op = MAXPOOL};
    plane_rows_run(&p);
}

void ae_maxpool_backward_rows(const float *dy, size_t dy_stride, float *dx, size_t dx_stride, const float *argmax,
                              size_t argmax_stride, int rows, int planes, int out_height, int out_width) {
    plane_rows p = {.in = dy, .out = dx, .argmax = (float *)argmax, .in_stride = dy_stride, .out_stride = dx_stride,
                    .argmax_stride = argmax_stride, .rows = rows, .planes = planes, .height = out_height,
                    .width = out_width, .op = MAXPOOL_BACKWARD};
    plane_rows_run(&p);
}

void ae_upsample_nearest_rows(const float *x, size_t x_stride, float *y, size_t y_stride, int rows, int planes,
                              int height, int width, int scale) {
    plane_rows p = {.in = x, .out = y, .in_stride = x_stride, .out_stride = y_stride, .rows = rows,
                    .planes = planes, .height = height, .width = width, .scale = scale, .op = UPSAMPLE};
    plane_rows_run(&p);
}

void ae_upsample_nearest_backward_rows(const float *dy, size_t dy_stride, float *dx, size_t dx_stride, int rows,
                                       int planes, int height, int width, int scale) {
    plane_rows p = {.in = dy, .out = dx, .in_stride = dy_stride, .out_stride = dx_stride, .rows = rows,
                    .planes = planes, .height = height, .width = width, .scale = scale, .op = UPSAMPLE_BACKWARD};
    plane_rows_run(&p);
}
