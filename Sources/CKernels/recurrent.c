// See recurrent.h. One call handles one time step for the whole batch; the loops over the hidden
// units are written with restrict rows and branch-free activations so clang vectorises them
// (expf/tanhf calls would not vectorise without a vector math library); see fastmath.h.
#include "recurrent.h"
#include "fastmath.h"
#include <string.h>


float ae_sigmoid_scalar(float x) { return sigmoid(x); }
float ae_tanh_scalar(float x) { return tanh_approx(x); }

static inline int valid(const int32_t *lengths, int b, int step) { return !lengths || step < lengths[b]; }

// always_inline: each target clone must get its own vectorised copy of the row loops.
// The gate blocks of a row are disjoint ranges of one array, which clang cannot prove without
// runtime overlap checks that sent every call down the scalar loop (perf); they cannot overlap.
#define ASSUME_SAFE _Pragma("clang loop vectorize(assume_safety)")
#define ROW static inline __attribute__((always_inline)) void

ROW lstm_forward_row(int H, float *restrict a, const float *restrict xp, const float *restrict bi,
                     const float *restrict bh, const float *restrict cp, float *restrict c, float *restrict h,
                     float *restrict y) {
    if (xp) {
        for (int j = 0; j < 4 * H; j++) a[j] += xp[j] + bi[j] + bh[j];
    } else {
        for (int j = 0; j < 4 * H; j++) a[j] += bi[j] + bh[j];
    }
    ASSUME_SAFE
    for (int j = 0; j < H; j++) {
        float i = sigmoid(a[j]), f = sigmoid(a[H + j]), g = tanh_approx(a[2 * H + j]), o = sigmoid(a[3 * H + j]);
        a[j] = i;
        a[H + j] = f;
        a[2 * H + j] = g;
        a[3 * H + j] = o;
        float cc = f * cp[j] + i * g;
        c[j] = cc;
        h[j] = o * tanh_approx(cc);
    }
    if (y) memcpy(y, h, sizeof(float) * (size_t)H);
}

CLONES void ae_lstm_forward_step(int batch, int hidden, float *gates, size_t gates_stride, const float *xp,
                                 size_t xp_stride, const float *bias_ih, const float *bias_hh, const float *c_prev,
                                 float *c, size_t c_stride, const float *h_prev, size_t h_prev_stride, float *h,
                                 size_t h_stride, float *y, size_t y_stride, const int32_t *lengths, int step) {
    size_t H = (size_t)hidden;
    for (int b = 0; b < batch; b++) {
        float *yb = y ? y + b * y_stride : NULL;
        if (valid(lengths, b, step)) {
            lstm_forward_row(hidden, gates + b * gates_stride, xp ? xp + b * xp_stride : NULL, bias_ih, bias_hh,
                             c_prev + b * c_stride, c + b * c_stride, h + b * h_stride, yb);
        } else {
            // Padding: the state stays what it was after the sample's last step.
            memcpy(c + b * c_stride, c_prev + b * c_stride, sizeof(float) * H);
            memcpy(h + b * h_stride, h_prev + b * h_prev_stride, sizeof(float) * H);
            if (yb) memset(yb, 0, sizeof(float) * H);
        }
    }
}

ROW lstm_backward_row(int H, float *restrict a, const float *restrict cp, const float *restrict c,
                      const float *restrict dy, float *restrict dh, float *restrict dc) {
    ASSUME_SAFE
    for (int j = 0; j < H; j++) {
        float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
        float tc = tanh_approx(c[j]);
        float d = dy ? dh[j] + dy[j] : dh[j];
        // h = o tanh(c);  c = f c_prev + i g;  then through each gate's activation.
        float dcc = dc[j] + d * o * (1 - tc * tc);
        a[j] = dcc * g * i * (1 - i);
        a[H + j] = dcc * cp[j] * f * (1 - f);
        a[2 * H + j] = dcc * i * (1 - g * g);
        a[3 * H + j] = d * tc * o * (1 - o);
        dc[j] = dcc * f;
        dh[j] = 0;
    }
}

CLONES void ae_lstm_backward_step(int batch, int hidden, float *gates, size_t gates_stride, const float *c_prev,
                                  const float *c, size_t c_stride, const float *dy, size_t dy_stride, float *dh,
                                  float *dc, const int32_t *lengths, int step) {
    size_t H = (size_t)hidden;
    for (int b = 0; b < batch; b++) {
        if (valid(lengths, b, step)) {
            lstm_backward_row(hidden, gates + b * gates_stride, c_prev + b * c_stride, c + b * c_stride,
                              dy ? dy + b * dy_stride : NULL, dh + b * H, dc + b * H);
        } else {
            // A frozen state passes dh and dc through; padded gates get no gradient.
            memset(gates + b * gates_stride, 0, sizeof(float) * 4 * H);
        }
    }
}

ROW gru_forward_row(int H, float *restrict a, const float *restrict xp, float *restrict gh, const float *restrict bi,
                    const float *restrict bh, const float *restrict hp, float *restrict h, float *restrict y) {
    if (xp) memcpy(a, xp, sizeof(float) * 3 * (size_t)H);
    for (int j = 0; j < 3 * H; j++) {
        a[j] += bi[j];
        gh[j] += bh[j];
    }
    ASSUME_SAFE
    for (int j = 0; j < H; j++) {
        float r = sigmoid(a[j] + gh[j]);
        float z = sigmoid(a[H + j] + gh[H + j]);
        float n = tanh_approx(a[2 * H + j] + r * gh[2 * H + j]);
        a[j] = r;
        a[H + j] = z;
        a[2 * H + j] = n;
        h[j] = (1 - z) * n + z * hp[j];
    }
    if (y) memcpy(y, h, sizeof(float) * (size_t)H);
}

CLONES void ae_gru_forward_step(int batch, int hidden, float *gates, size_t gates_stride, const float *xp,
                                size_t xp_stride, float *hgates, size_t hgates_stride, const float *bias_ih,
                                const float *bias_hh, const float *h_prev, size_t h_prev_stride, float *h,
                                size_t h_stride, float *y, size_t y_stride, const int32_t *lengths, int step) {
    size_t H = (size_t)hidden;
    for (int b = 0; b < batch; b++) {
        float *yb = y ? y + b * y_stride : NULL;
        if (valid(lengths, b, step)) {
            gru_forward_row(hidden, gates + b * gates_stride, xp ? xp + b * xp_stride : NULL,
                            hgates + b * hgates_stride, bias_ih, bias_hh, h_prev + b * h_prev_stride, h + b * h_stride,
                            yb);
        } else {
            memcpy(h + b * h_stride, h_prev + b * h_prev_stride, sizeof(float) * H);
            if (yb) memset(yb, 0, sizeof(float) * H);
        }
    }
}

ROW gru_backward_row(int H, float *restrict a, float *restrict gh, const float *restrict hp,
                     const float *restrict dy, float *restrict dh) {
    ASSUME_SAFE
    for (int j = 0; j < H; j++) {
        float r = a[j], z = a[H + j], n = a[2 * H + j], ghn = gh[2 * H + j];
        float d = dy ? dh[j] + dy[j] : dh[j];
        // h = (1 - z) n + z h_prev;  n = tanh(gi_n + r gh_n);  r, z = sigmoid(gi + gh).
        float dn = d * (1 - z) * (1 - n * n);
        float dz = d * (hp[j] - n) * z * (1 - z);
        float dr = dn * ghn * r * (1 - r);
        a[j] = dr;
        a[H + j] = dz;
        a[2 * H + j] = dn;
        gh[j] = dr;
        gh[H + j] = dz;
        gh[2 * H + j] = dn * r;
        dh[j] = d * z;
    }
}

CLONES void ae_gru_backward_step(int batch, int hidden, float *gates, size_t gates_stride, float *hgates,
                                 size_t hgates_stride, const float *h_prev, size_t h_stride, const float *dy,
                                 size_t dy_stride, float *dh, const int32_t *lengths, int step) {
    size_t H = (size_t)hidden;
    for (int b = 0; b < batch; b++) {
        if (valid(lengths, b, step)) {
            gru_backward_row(hidden, gates + b * gates_stride, hgates + b * hgates_stride, h_prev + b * h_stride,
                             dy ? dy + b * dy_stride : NULL, dh + b * H);
        } else {
            memset(gates + b * gates_stride, 0, sizeof(float) * 3 * H);
            memset(hgates + b * hgates_stride, 0, sizeof(float) * 3 * H);
        }
    }
}

CLONES void ae_column_sums(const float *m, int rows, int cols, size_t stride, float *out, int accumulate) {
    if (!accumulate) memset(out, 0, sizeof(float) * (size_t)cols);
    for (int r = 0; r < rows; r++) {
        const float *restrict row = m + r * stride;
        float *restrict o = out;
        for (int j = 0; j < cols; j++) o[j] += row[j];
    }
}

// The same steps on the calling shard's team: contiguous blocks of samples, one per member (each
// sample's math is its own: the bits of one thread). Column sums by blocks of columns, each summed
// over the rows in order.
#include "ae_team.h"

enum { LSTM_FORWARD, LSTM_BACKWARD, GRU_FORWARD, GRU_BACKWARD };

typedef struct {
    int op, batch, hidden, step, parts;
    float *gates, *hgates, *c, *h, *y, *dh, *dc;
    const float *xp, *bias_ih, *bias_hh, *c_prev, *h_prev, *dy;
    size_t gates_stride, hgates_stride, xp_stride, c_stride, h_prev_stride, h_stride, y_stride, dy_stride;
    const int32_t *lengths;
} step_job;

static void step_part(void *context, size_t i) {
    const step_job *s = context;
    size_t b0 = (size_t)s->batch * i / s->parts, b1 = (size_t)s->batch * (i + 1) / s->parts, H = (size_t)s->hidden;
    int n = (int)(b1 - b0);
    const int32_t *lengths = s->lengths ? s->lengths + b0 : NULL;
#define AT(p, stride) ((p) ? (p) + b0 * (stride) : NULL)
    switch (s->op) {
    case LSTM_FORWARD:
        ae_lstm_forward_step(n, s->hidden, AT(s->gates, s->gates_stride), s->gates_stride, AT(s->xp, s->xp_stride),
                             s->xp_stride, s->bias_ih, s->bias_hh, AT(s->c_prev, s->c_stride), AT(s->c, s->c_stride),
                             s->c_stride, AT(s->h_prev, s->h_prev_stride), s->h_prev_stride, AT(s->h, s->h_stride),
                             s->h_stride, AT(s->y, s->y_stride), s->y_stride, lengths, s->step);
        break;
    case LSTM_BACKWARD:
        ae_lstm_backward_step(n, s->hidden, AT(s->gates, s->gates_stride), s->gates_stride,
                              AT(s->c_prev, s->c_stride), AT(s->c, s->c_stride), s->c_stride,
                              AT(s->dy, s->dy_stride), s->dy_stride, AT(s->dh, H), AT(s->dc, H), lengths, s->step);
        break;
    case GRU_FORWARD:
        ae_gru_forward_step(n, s->hidden, AT(s->gates, s->gates_stride), s->gates_stride, AT(s->xp, s->xp_stride),
                            s->xp_stride, AT(s->hgates, s->hgates_stride), s->hgates_stride, s->bias_ih, s->bias_hh,
                            AT(s->h_prev, s->h_prev_stride), s->h_prev_stride, AT(s->h, s->h_stride), s->h_stride,
                            AT(s->y, s->y_stride), s->y_stride, lengths, s->step);
        break;
    default:
        ae_gru_backward_step(n, s->hidden, AT(s->gates, s->gates_stride), s->gates_stride,
                             AT(s->hgates, s->hgates_stride), s->hgates_stride, AT(s->h_prev, s->h_stride),
                             s->h_stride, AT(s->dy, s->dy_stride), s->dy_stride, AT(s->dh, H), lengths, s->step);
        break;
    }
#undef AT
}

static void run_step(step_job *s) {
    ae_team *team = ae_team_current();
    // Blocks of at least 4 samples: a step of a few samples is cheaper than waking the team.
    int parts = s->batch / 4 < ae_team_size(team) ? s->batch / 4 : ae_team_size(team);
    s->parts = parts < 1 ? 1 : parts;
    ae_team_for(team, (size_t)s->parts, s, step_part);
}

void ae_lstm_forward_step_team(int batch, int hidden, float *gates, size_t gates_stride, const float *xp,
                               size_t xp_stride, const float *bias_ih, const float *bias_hh, const float *c_prev,
                               float *c, size_t c_stride, const float *h_prev, size_t h_prev_stride, float *h,
                               size_t h_stride, float *y, size_t y_stride, const int32_t *lengths, int step) {
    step_job s = {.op = LSTM_FORWARD, .batch = batch, .hidden = hidden, .step = step, .gates = gates,
                  .gates_stride = gates_stride, .xp = xp, .xp_stride = xp_stride, .bias_ih = bias_ih,
                  .bias_hh = bias_hh, .c_prev = c_prev, .c = c, .c_stride = c_stride, .h_prev = h_prev,
                  .h_prev_stride = h_prev_stride, .h = h, .h_stride = h_stride, .y = y, .y_stride = y_stride,
                  .lengths = lengths};
    run_step(&s);
}

void ae_lstm_backward_step_team(int batch, int hidden, float *gates, size_t gates_stride, const float *c_prev,
                                const float *c, size_t c_stride, const float *dy, size_t dy_stride, float *dh,
                                float *dc, const int32_t *lengths, int step) {
    step_job s = {.op = LSTM_BACKWARD, .batch = batch, .hidden = hidden, .step = step, .gates = gates,
                  .gates_stride = gates_stride, .c_prev = c_prev, .c = (float *)c, .c_stride = c_stride, .dy = dy,
                  .dy_stride = dy_stride, .dh = dh, .dc = dc, .lengths = lengths};
    run_step(&s);
}

void ae_gru_forward_step_team(int batch, int hidden, float *gates, size_t gates_stride, const float *xp,
                              size_t xp_stride, float *hgates, size_t hgates_stride, const float *bias_ih,
                              const float *bias_hh, const float *h_prev, size_t h_prev_stride, float *h,
                              size_t h_stride, float *y, size_t y_stride, const int32_t *lengths, int step) {
    step_job s = {.op = GRU_FORWARD, .batch = batch, .hidden = hidden, .step = step, .gates = gates,
                  .gates_stride = gates_stride, .xp = xp, .xp_stride = xp_stride, .hgates = hgates,
                  .hgates_stride = hgates_stride, .bias_ih = bias_ih, .bias_hh = bias_hh, .h_prev = h_prev,
                  .h_prev_stride = h_prev_stride, .h = h, .h_stride = h_stride, .y = y, .y_stride = y_stride,
                  .lengths = lengths};
    run_step(&s);
}

void ae_gru_backward_step_team(int batch, int hidden, float *gates, size_t gates_stride, float *hgates,
                               size_t hgates_stride, const float *h_prev, size_t h_stride, const float *dy,
                               size_t dy_stride, float *dh, const int32_t *lengths, int step) {
    step_job s = {.op = GRU_BACKWARD, .batch = batch, .hidden = hidden, .step = step, .gates = gates,
                  .gates_stride = gates_stride, .hgates = hgates, .hgates_stride = hgates_stride, .h_prev = h_prev,
                  .h_stride = h_stride, .dy = dy, .dy_stride = dy_stride, .dh = dh, .lengths = lengths};
    run_step(&s);
}

typedef struct {
    const float *m;
    float *out;
    size_t stride;
    int rows, cols, accumulate, parts;
} sums_job;

static void sums_part(void *context, size_t i) {
    const sums_job *s = context;
    // Blocks of 16 columns (one cache line of `out`).
    int blocks = (s->cols + 15) / 16;
    int j0 = (int)((size_t)blocks * i / s->parts) * 16, j1 = (int)((size_t)blocks * (i + 1) / s->parts) * 16;
    if (j1 > s->cols) j1 = s->cols;
    if (j0 < j1) ae_column_sums(s->m + j0, s->rows, j1 - j0, s->stride, s->out + j0, s->accumulate);
}

void ae_column_sums_team(const float *m, int rows, int cols, size_t stride, float *out, int accumulate) {
    ae_team *team = ae_team_current();
    int blocks = (cols + 15) / 16;
    int parts = (size_t)rows * cols < 16384 ? 1 : (blocks < ae_team_size(team) ? blocks : ae_team_size(team));
    sums_job s = {.m = m, .out = out, .stride = stride, .rows = rows, .cols = cols, .accumulate = accumulate,
                  .parts = parts < 1 ? 1 : parts};
    ae_team_for(team, (size_t)s.parts, &s, sums_part);
}
