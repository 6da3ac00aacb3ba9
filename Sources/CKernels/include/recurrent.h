// Per-time-step gate math of the LSTM and GRU layers (Sources/Layers/RecurrentLayer.swift), forward
// and backward through time, for all B samples of one step. The GEMMs around them (input
// projection, h W_hh^T, dG W_hh, weight gradients) run in Swift through OpenBLAS.
// Gate orders follow PyTorch's nn.LSTM (i f g o) and nn.GRU (r z n).
#ifndef RECURRENT_H
#define RECURRENT_H
#include <stddef.h>
#include <stdint.h>

/// Strides count floats between consecutive samples (rows). `lengths` (may be NULL: all steps
/// valid) holds each sample's valid step count; for `step >= lengths[b]` the state is frozen
/// (copied from the previous one), y is 0 and every gate gradient is 0.

/// LSTM forward step. `gates` holds h_{t-1} W_hh^T (+ x_t W_ih^T unless `xp` is given, which is
/// then added: the once-per-sample projection of a repeated input); the biases are added here and
/// the activated gates i f g o replace it. c_t = f c_{t-1} + i g, h_t = o tanh(c_t); h_t goes to
/// `h` and, when non-NULL, to `y`.
void ae_lstm_forward_step(int batch, int hidden, float *gates, size_t gates_stride, const float *xp,
                          size_t xp_stride, const float *bias_ih, const float *bias_hh, const float *c_prev,
                          float *c, size_t c_stride, const float *h_prev, size_t h_prev_stride, float *h,
                          size_t h_stride, float *y, size_t y_stride, const int32_t *lengths, int step);

/// LSTM backward step. Reads the activated gates and c_{t-1}, c_t; dh (B, H) holds dL/dh_t from
/// later steps (dy_t, when non-NULL, is added here) and dc (B, H) dL/dc_t. Writes the
/// pre-activation gate gradients over `gates`, dc_{t-1} into dc, and 0 into dh for valid samples
/// (the caller then adds dgates W_hh); padded samples keep dh and dc unchanged.
void ae_lstm_backward_step(int batch, int hidden, float *gates, size_t gates_stride, const float *c_prev,
                           const float *c, size_t c_stride, const float *dy, size_t dy_stride, float *dh,
                           float *dc, const int32_t *lengths, int step);

/// GRU forward step. `gates` holds x_t W_ih^T (or nothing when `xp` is given: then xp is copied
/// in), `hgates` h_{t-1} W_hh^T. With the biases: r = s(gi_r + gh_r), z = s(gi_z + gh_z),
/// n = tanh(gi_n + r gh_n), h_t = (1 - z) n + z h_{t-1}. `gates` becomes r z n; `hgates` keeps
/// gh (with b_hh), of which backward needs gh_n.
void ae_gru_forward_step(int batch, int hidden, float *gates, size_t gates_stride, const float *xp,
                         size_t xp_stride, float *hgates, size_t hgates_stride, const float *bias_ih,
                         const float *bias_hh, const float *h_prev, size_t h_prev_stride, float *h,
                         size_t h_stride, float *y, size_t y_stride, const int32_t *lengths, int step);

/// GRU backward step. Writes dL/d(input pre-activations) over `gates` and dL/d(hidden
/// pre-activations) over `hgates` (they differ in the n part: r gh_n), and dh = z dh (valid
/// samples; the caller then adds dhgates W_hh).
void ae_gru_backward_step(int batch, int hidden, float *gates, size_t gates_stride, float *hgates,
                          size_t hgates_stride, const float *h_prev, size_t h_stride, const float *dy,
                          size_t dy_stride, float *dh, const int32_t *lengths, int step);

/// out[j] (+)= sum over `rows` rows of m[r * stride + j], j < cols; overwrites when !accumulate.
void ae_column_sums(const float *m, int rows, int cols, size_t stride, float *out, int accumulate);

/// The four steps and the column sums on the calling shard's team (same arguments and bits).
void ae_lstm_forward_step_team(int batch, int hidden, float *gates, size_t gates_stride, const float *xp,
                               size_t xp_stride, const float *bias_ih, const float *bias_hh, const float *c_prev,
                               float *c, size_t c_stride, const float *h_prev, size_t h_prev_stride, float *h,
                               size_t h_stride, float *y, size_t y_stride, const int32_t *lengths, int step);
void ae_lstm_backward_step_team(int batch, int hidden, float *gates, size_t gates_stride, const float *c_prev,
                                const float *c, size_t c_stride, const float *dy, size_t dy_stride, float *dh,
                                float *dc, const int32_t *lengths, int step);
void ae_gru_forward_step_team(int batch, int hidden, float *gates, size_t gates_stride, const float *xp,
                              size_t xp_stride, float *hgates, size_t hgates_stride, const float *bias_ih,
                              const float *bias_hh, const float *h_prev, size_t h_prev_stride, float *h,
                              size_t h_stride, float *y, size_t y_stride, const int32_t *lengths, int step);
void ae_gru_backward_step_team(int batch, int hidden, float *gates, size_t gates_stride, float *hgates,
                               size_t hgates_stride, const float *h_prev, size_t h_stride, const float *dy,
                               size_t dy_stride, float *dh, const int32_t *lengths, int step);
void ae_column_sums_team(const float *m, int rows, int cols, size_t stride, float *out, int accumulate);

/// Elementwise activations used by the kernels (exposed for tests): vectorisable polynomial
/// versions, within a few float ulp of expf-based ones.
float ae_sigmoid_scalar(float x);
float ae_tanh_scalar(float x);

#endif
