// Binary cross-entropy on logits for a row of values, vectorised (see fastmath.h): the stable
// form max(z, 0) - z t + log(1 + e^-|z|), with one exponential serving loss and sigmoid.
#include "ckernels.h"
#include "fastmath.h"


CLONES void ae_bce_logits(const float *restrict z, const float *restrict t, float *restrict g, size_t n,
                          float scale, double *objective, double *squared) {
    if (g) {
        // Training: the gradient is what matters; the sums only feed progress reports, so they
        // accumulate in float lanes (converting every term to double cost ~10% of a VAE step).
        float total = 0, total_squared = 0;
#pragma clang loop vectorize(enable)
        for (size_t i = 0; i < n; i++) {
            float x = z[i], a = x < 0 ? -x : x;
            float e = exp_approx(-a);
            total += (x > 0 ? x : 0) - x * t[i] + log1p_unit(e);
            float p = x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
            float d = p - t[i];
            total_squared += d * d;
            g[i] += scale * d;
        }
        *objective += total;
        *squared += total_squared;
        return;
    }
    // Evaluation: sums in double, as the loss is reported and differentiated numerically in tests.
    double total = 0, total_squared = 0;
    // Reassociating the sums is what vectorising them means; the order is fixed, so results
    // stay reproducible.
#pragma clang loop vectorize(enable)
    for (size_t i = 0; i < n; i++) {
        float x = z[i], a = x < 0 ? -x : x;
        float e = exp_approx(-a);
        total += (double)((x > 0 ? x : 0) - x * t[i] + log1p_unit(e));
        float p = x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
        float d = p - t[i];
        total_squared += (double)(d * d);
    }
    *objective += total;
    *squared += total_squared;
}
