// Hot loops of the engine in C: a persistent worker pool whose parallel loop allocates nothing
// (libdispatch's dispatch_apply allocates per call), and the fused optimizer updates, vectorised
// for the CPU at run time (target_clones). Swift reference versions live in Training/Optimizer.swift.
#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>

typedef void (*ae_task)(void *context, size_t index);

/// Runs task(context, i) for i in [0, count) on at most `workers` threads (the caller is one of
/// them); returns when all are done. Iteration i runs on worker i % workers, so a run with the
/// same worker count touches memory in the same pattern.
void ae_parallel_for(size_t count, size_t workers, void *context, ae_task task);

/// dst[i] += src[i]; src[i] = 0.
void ae_add_and_zero(float *dst, float *src, size_t n);

/// Zero-padded im2col of one CHW image: col[(c, ky, kx), (oy, ox)] = x[c, oy*s - p + ky*d,
/// ox*s - p + kx*d], 0 outside the image. Rows are copied as runs, not per element.
void ae_im2col(const float *x, float *col, int channels, int height, int width, int kernel, int stride,
               int padding, int dilation, int out_height, int out_width);

/// The adjoint of ae_im2col: adds each column entry into the pixel it read.
void ae_col2im(const float *col, float *dx, int channels, int height, int width, int kernel, int stride,
               int padding, int dilation, int out_height, int out_width);

/// Adam / AdamW step on n values as torch.optim does; reads g * grad_scale, zeroes g.
void ae_adam_update(float *p, float *g, float *m, float *v, size_t n, float beta1, float beta2,
                    float step_size, float root_correction2, float epsilon, float weight_decay,
                    int decoupled, float keep, float grad_scale);

/// SGD step (momentum buffer in m when momentum != 0, Nesterov optional); zeroes g.
void ae_sgd_update(float *p, float *g, float *m, size_t n, float lr, float momentum, int nesterov,
                   float weight_decay, float grad_scale);

/// Direct 3x3 convolution, stride 1, zero padding 1 (see conv3x3.c). Planes are padded by
/// ae_conv3x3_pad to rows of ae_conv3x3_row_stride(width) floats with a zero border.
int ae_conv3x3_row_stride(int width);
/// With `relu_y`, values where relu_y <= 0 become 0 (dy through a fused ReLU).
void ae_conv3x3_pad(const float *x, const float *relu_y, float *padded, int channels, int height, int width);
/// y (out_c, H, W) = bias + w (out_c, in_c, 3, 3) correlated with the padded input; adds into y
/// instead when `accumulate` (bias ignored); then max(y, 0) when `relu`. `portable` nonzero runs
/// the portable C loops even where AVX2 is available (a parameter, so tests need no global).
void ae_conv3x3(const float *xpad, int in_c, int height, int width, const float *w, const float *bias, int out_c,
                float *y, int accumulate, int relu, int portable);
/// Binary cross-entropy on logits z against targets t over n values: adds the loss sum to
/// *objective, the squared error of sigmoid(z) to *squared, and scale * (sigmoid(z) - t) into g
/// when g is non-null.
void ae_bce_logits(const float *z, const float *t, float *g, size_t n, float scale, double *objective,
                   double *squared);
/// g = dy where y > 0, else 0 (the backward of a fused ReLU); and y = max(y, 0) in place.
void ae_relu_mask(const float *dy, const float *y, float *g, size_t n);
void ae_relu_inplace(float *y, size_t n);
/// dw += dy (out_c, H, W) correlated with the padded input; db += sums of dy. With `relu_y`, dy
/// counts only where relu_y > 0 (a fused ReLU's output).
void ae_conv3x3_weight_grad(const float *xpad, int in_c, int height, int width, const float *dy, const float *relu_y,
                            int out_c, float *dw, float *db, int portable);
/// flipped (in_c, out_c, 3, 3) = w (out_c, in_c, 3, 3) with channels swapped and the kernel
/// rotated by 180 degrees: the input gradient is then a forward convolution of dy.
void ae_conv3x3_flip(const float *w, float *flipped, int out_c, int in_c);
/// A layer's `rows` images (rows `*_stride` floats apart) on the calling shard's team (ae_team.h),
/// the same bits as alone. Each image's cache row holds its padded planes (in_c of them, then out_c
/// for the padded dy). Forward pads x and convolves; backward adds the weight and bias gradients
/// of every image (dy masked where relu_y <= 0 when given) and, when dx is given, adds dy
/// convolved with `flipped` (ae_conv3x3_flip) into dx.
void ae_conv3x3_forward_rows(const float *x, size_t x_stride, float *cache, size_t cache_stride, int rows, int in_c,
                             int height, int width, const float *w, const float *bias, int out_c, float *y,
                             size_t y_stride, int relu, int portable);
void ae_conv3x3_backward_rows(const float *dy, size_t dy_stride, const float *relu_y, size_t y_stride, float *cache,
                              size_t cache_stride, int rows, int in_c, int height, int width, const float *flipped,
                              int out_c, float *dw, float *db, float *dx, size_t dx_stride, int portable);
/// Over `rows` samples of `planes` planes (strides in floats), split over the calling shard's team
/// by planes: 2x2 max-pool, stride 2 (argmax holds each maximum's flat index in its sample as int32
/// bits in its float slots); nearest upsampling by an integer factor, and its adjoint (adds into dx).
void ae_maxpool2x2_rows(const float *x, size_t x_stride, float *y, size_t y_stride, float *argmax,
                        size_t argmax_stride, int rows, int planes, int height, int width);
/// Any max-pool's backward: dx[argmax[o]] += dy[o] (out_height x out_width outputs per plane).
void ae_maxpool_backward_rows(const float *dy, size_t dy_stride, float *dx, size_t dx_stride, const float *argmax,
                              size_t argmax_stride, int rows, int planes, int out_height, int out_width);
void ae_upsample_nearest_rows(const float *x, size_t x_stride, float *y, size_t y_stride, int rows, int planes,
                              int height, int width, int scale);
void ae_upsample_nearest_backward_rows(const float *dy, size_t dy_stride, float *dx, size_t dx_stride, int rows,
                                       int planes, int height, int width, int scale);

/// Winograd F(4x4, 3x3) for 3x3 stride-1 zero-padding-1 convolutions (see winograd.c): tiles of
/// one image, and the scratch floats a call over `rows` images with up to `channels` input
/// channels needs. Matrices of images are rows `*_stride` floats apart. v, m, dm and dv hold
/// [36][channels][tile_stride]; a call covers the rows of tiles [ty0, ty1) of each image (0 and
/// (height + 3) / 4 for whole images), its images owning the tiles from `tile_offset` on.
int ae_wino_tiles(int height, int width);
size_t ae_wino_scratch(int rows, int channels, int height, int width);
/// u[xi][o][c] = (G w[o][c] G^T)[xi]; and its adjoint: dw[o][c] += G^T du[.][o][c] G.
void ae_wino_weights(const float *w, int out_c, int in_c, float *u, float *scratch);
void ae_wino_weight_grad(const float *du, int out_c, int in_c, float *dw, float *scratch);
/// v[xi][c][t] = (B^T d_t B)[xi] for the 6x6 padded input patch d_t of each tile t.
void ae_wino_input(const float *x, size_t x_stride, int rows, int channels, int height, int width, int ty0, int ty1,
                   float *v, size_t tile_stride, size_t tile_offset, float *scratch);
/// y (out_c, H, W) = bias + A^T m[.][o][t] A per tile, then max(y, 0) when `relu`.
void ae_wino_output(const float *m, size_t tile_stride, size_t tile_offset, int rows, int out_c, int height,
                    int width, int ty0, int ty1, const float *bias, int relu, float *y, size_t y_stride,
                    float *scratch);
/// dm[xi][o][t] = (A dy_t A^T)[xi] (dy masked where relu_y <= 0 when given); db += sums of dy.
void ae_wino_output_grad(const float *dy, size_t dy_stride, const float *relu_y, size_t y_stride, int rows,
                         int out_c, int height, int width, int ty0, int ty1, float *dm, size_t tile_stride,
                         size_t tile_offset, float *db, float *scratch);
/// dx += B dv[.][c][t] B^T per tile, added where the tile's input patch lies.
void ae_wino_input_grad(const float *dv, size_t tile_stride, size_t tile_offset, int rows, int channels, int height,
                        int width, int ty0, int ty1, float *dx, size_t dx_stride, float *scratch);
/// The transforms above split their channels over the calling shard's team (ae_team.h), as do
/// these: the 36 products of a part, c[xi] (m x n) = a[xi] b[xi] with a[xi] stored m x k (or k x m
/// when `transpose_a`) at a + xi m k, b[xi] at b + xi b_xi (rows ldb apart), c[xi] at c + xi c_xi
/// (rows ldc apart); and the weights' gradient du[xi] (out_c x in_c) = dm[xi] v[xi]^T, added to du
/// when `accumulate`, each v[xi] transposed first into one of `slots` (36 regions of in_c
/// tile_stride floats: dv's). Needs ae_gemm_products_kernel() != 0; the same bits on any team.
void ae_wino_products(int m, int n, int k, const float *a, int transpose_a, const float *b, size_t b_xi, size_t ldb,
                      float *c, size_t c_xi, size_t ldc);
void ae_wino_weight_products(int out_c, int in_c, int tiles, const float *dm, const float *v, size_t tile_stride,
                             float *du, int accumulate, float *slots);
/// Single-thread GEMMs (gemm_products.c), for use when ae_gemm_products_kernel() is not 0 (512: the
/// AVX-512 kernels, 256: the AVX2 + FMA ones): c = a b with a(i, p) = a[i * a_rs + p * a_cs] (a
/// transposed operand is a stride swap), overwriting c, or adding to it when `accumulate`.
int ae_gemm_products_kernel(void);
/// The same with a chosen kernel (512 or 256, which the CPU must have): tests cover both.
void ae_gemm_nn_using(int kernel, int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b,
                      size_t ldb, float *c, size_t ldc, int accumulate);
void ae_gemm_nn(int m, int n, int k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb, float *c,
                size_t ldc, int accumulate);
/// c = alpha a b + beta c, all row-major, for b of 1 to 16 columns (c is not read when beta is 0):
/// the GEMM wrapper's route around OpenBLAS kernels that allocate on such shapes.
void ae_gemm_narrow(int m, int n, int k, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                    float beta, float *c, size_t ldc);
/// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols (16 x 16 register blocks with AVX-512).
void ae_transpose(int rows, int cols, const float *src, size_t lds, float *dst, size_t ldd);
#endif
