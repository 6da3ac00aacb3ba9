// Fast paths for the pooling and upsampling layers' common cases (2x2 max-pool with stride 2,
// nearest upsampling by an integer factor): per-element integer division and generic window
// loops cost more than the convolutions around them in small networks such as M2.
#include "ckernels.h"
#include <stdint.h>

void ae_maxpool2x2(const float *x, float *y, float *argmax, int planes, int height, int width) {
    int oh = height / 2, ow = width / 2;
    // The argmax slots hold int32 indices in float-sized storage (exact for any image size).
    int32_t *index = (int32_t *)argmax;
    for (int p = 0; p < planes; p++) {
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

static void upsample2(const float *x, float *y, int planes, int height, int width) {
    int ow = 2 * width;
    for (int p = 0; p < planes; p++) {
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

static void upsample2_backward(const float *dy, float *dx, int planes, int height, int width) {
    int ow = 2 * width;
    for (int p = 0; p < planes; p++) {
        for (int iy = 0; iy < height; iy++, dy += 2 * ow) {
            float *line = dx + ((size_t)p * height + iy) * width;
            const float *d1 = dy + ow;
            for (int ix = 0; ix < width; ix++) line[ix] += (dy[2 * ix] + dy[2 * ix + 1]) + (d1[2 * ix] + d1[2 * ix + 1]);
        }
    }
}

void ae_upsample_nearest(const float *x, float *y, int planes, int height, int width, int scale) {
    if (scale == 2) {
        upsample2(x, y, planes, height, width);
        return;
    }
    int ow = width * scale;
    for (int p = 0; p < planes; p++) {
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

void ae_upsample_nearest_backward(const float *dy, float *dx, int planes, int height, int width, int scale) {
    if (scale == 2) {
        upsample2_backward(dy, dx, planes, height, width);
        return;
    }
    int ow = width * scale;
    for (int p = 0; p < planes; p++) {
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
