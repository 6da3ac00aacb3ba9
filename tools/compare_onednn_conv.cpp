// One convolution layer's forward pass, one thread: oneDNN's convolution primitive (the library
// PyTorch uses on CPUs) against our Winograd path as Conv2D runs it (parts of about 2 MB of tiles,
// our product kernels), on the denoiser's 3x3 'same' layers with bias and a fused ReLU, batch 32.
// oneDNN gets its own blocked layouts (format "any"): timed alone (the best case, a whole network
// kept in its layout) and with the reorders from and to NCHW that a layer in our layout would need.
// Best of 15 runs each; the outputs are compared. Built and run by tools/compare_onednn_conv.
#include <dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include <cmath>
extern "C" {
#include "ckernels.h"
}
using namespace dnnl;
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int main() {
    int shapes[][4] = {{32, 32, 48, 48}, {64, 64, 24, 24}, {128, 128, 12, 12}, {96, 32, 48, 48}};
    int B = 32;
    engine eng(engine::kind::cpu, 0);
    stream s(eng);
    for (auto &sh : shapes) {
        int C = sh[0], O = sh[1], H = sh[2], W = sh[3];
        std::vector<float> x((size_t)B * C * H * W), w((size_t)O * C * 9), b(O), y((size_t)B * O * H * W), y2(y.size());
        for (auto &v : x) v = rand() / (float)RAND_MAX - 0.5f;
        for (auto &v : w) v = (rand() / (float)RAND_MAX - 0.5f) * 0.1f;
        for (auto &v : b) v = rand() / (float)RAND_MAX - 0.5f;
        memory::dims src_d = {B, C, H, W}, wei_d = {O, C, 3, 3}, bia_d = {O}, dst_d = {B, O, H, W}, st = {1, 1}, pad = {1, 1};
        auto anyf = memory::format_tag::any;
        post_ops po; po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
        primitive_attr attr; attr.set_post_ops(po);
        double results[3] = {0, 0, 0};
        const char *names[3] = {"direct", "winograd", "ours"};
        for (int alg = 0; alg < 2; alg++) {
            try {
                auto cd = convolution_forward::desc(prop_kind::forward_inference,
                    alg == 0 ? algorithm::convolution_direct : algorithm::convolution_winograd,
                    memory::desc(src_d, memory::data_type::f32, anyf), memory::desc(wei_d, memory::data_type::f32, anyf),
                    memory::desc(bia_d, memory::data_type::f32, memory::format_tag::x), memory::desc(dst_d, memory::data_type::f32, anyf),
                    st, pad, pad);
                auto pd = convolution_forward::primitive_desc(cd, attr, eng);
                // Blocked layouts chosen by oneDNN: time the primitive alone (the best case: the
                // whole network in its layout) and with reorders from/to NCHW.
                memory xs({src_d, memory::data_type::f32, memory::format_tag::nchw}, eng, x.data());
                memory ws({wei_d, memory::data_type::f32, memory::format_tag::oihw}, eng, w.data());
                memory bs({bia_d, memory::data_type::f32, memory::format_tag::x}, eng, b.data());
                memory ys({dst_d, memory::data_type::f32, memory::format_tag::nchw}, eng, y.data());
                memory xb(pd.src_desc(), eng), wb(pd.weights_desc(), eng), yb(pd.dst_desc(), eng);
                reorder(ws, wb).execute(s, ws, wb);
                convolution_forward conv(pd);
                auto rx = reorder(xs, xb); auto ry = reorder(yb, ys);
                double best = 1e9, bestr = 1e9;
                for (int rep = 0; rep < 15; rep++) {
                    double t = now();
                    conv.execute(s, {{DNNL_ARG_SRC, xb}, {DNNL_ARG_WEIGHTS, wb}, {DNNL_ARG_BIAS, bs}, {DNNL_ARG_DST, yb}});
                    s.wait(); t = now() - t; best = std::min(best, t);
                    t = now();
                    rx.execute(s, xs, xb);
                    conv.execute(s, {{DNNL_ARG_SRC, xb}, {DNNL_ARG_WEIGHTS, wb}, {DNNL_ARG_BIAS, bs}, {DNNL_ARG_DST, yb}});
                    ry.execute(s, yb, ys); s.wait(); t = now() - t; bestr = std::min(bestr, t);
                }
                printf("C%d O%d %dx%d B%d: oneDNN %s (%s) %.2f ms, with NCHW reorders %.2f ms\n", C, O, H, W, B, names[alg],
                       pd.impl_info_str(), best * 1e3, bestr * 1e3);
                results[alg] = bestr;
            } catch (error &e) {
                printf("C%d O%d: oneDNN %s unavailable (%s)\n", C, O, names[alg], e.what());
            }
        }
        // Ours: Winograd as Conv2D.winogradForward runs it (parts of ~2 MB of tiles).
        int tiles = ae_wino_tiles(H, W), G = std::max(1, 524288 / (36 * tiles * (C + O)));
        G = std::min(G, B);
        size_t all = (size_t)G * tiles;
        std::vector<float> v(36 * C * all), m(36 * O * all), u(36 * (size_t)C * O), sc(ae_wino_scratch(G, C, H, W) + 64);
        double best = 1e9;
        for (int rep = 0; rep < 15; rep++) {
            double t = now();
            ae_wino_weights(w.data(), O, C, u.data(), sc.data());
            for (int r0 = 0; r0 < B; r0 += G) {
                int g = std::min(G, B - r0);
                ae_wino_input(x.data() + (size_t)r0 * C * H * W, (size_t)C * H * W, g, C, H, W, 0, (H + 3) / 4, v.data(), all, 0, sc.data());
                for (int xi = 0; xi < 36; xi++)
                    ae_gemm_nn(O, g * tiles, C, u.data() + (size_t)xi * O * C, C, 1, v.data() + xi * C * all, all, m.data() + xi * O * all, all, 0);
                ae_wino_output(m.data(), all, 0, g, O, H, W, 0, (H + 3) / 4, b.data(), 1, y2.data() + (size_t)r0 * O * H * W, (size_t)O * H * W, sc.data());
            }
            t = now() - t; best = std::min(best, t);
        }
        double maxd = 0, maxv = 0;
        for (size_t i = 0; i < y.size(); i++) { maxd = std::max(maxd, (double)std::fabs(y[i] - y2[i])); maxv = std::max(maxv, (double)std::fabs(y[i])); }
        printf("C%d O%d %dx%d B%d: ours (Winograd, products kernel %d) %.2f ms; max difference to oneDNN %.2g of %.2g\n",
               C, O, H, W, B, ae_gemm_products_kernel(), best * 1e3, maxd, maxv);
        for (int alg = 0; alg < 2; alg++)
            if (results[alg] > 0) printf("  oneDNN %s with reorders / ours: %.2fx\n", names[alg], results[alg] / best);
    }
}
