// Branch-free float math that clang vectorises inside loops (libm calls would not vectorise
// without a vector math library): Cephes' expf (range reduction by ln 2, degree-5 polynomial),
// Eigen's 13/6 rational tanh, and log1p through atanh. Private to CKernels.
#ifndef AE_FASTMATH_H
#define AE_FASTMATH_H
#include <stdint.h>
#include <string.h>

// One build per instruction set, picked at run time (ifunc). ThreadSanitizer instruments the
// ifunc resolvers, which then run before its runtime exists and crash: plain builds there.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AE_NO_CLONES 1
#endif
#endif
#ifdef AE_NO_CLONES
#define CLONES
#else
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

static inline __attribute__((always_inline)) float exp_approx(float x) {
    // exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln 2 / 2; ln 2 split in two for exactness.
    x = __builtin_fminf(__builtin_fmaxf(x, -87.0f), 88.0f);
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline __attribute__((always_inline)) float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

static inline __attribute__((always_inline)) float tanh_approx(float x) {
    // Odd/even rational interpolant, a few ulp on [-9, 9]; outside, tanh is +-1 in float.
    x = __builtin_fminf(__builtin_fmaxf(x, -9.0f), 9.0f);
    float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 - 8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return x * p / q;
}

/// log(1 + e) for e in [0, 1]: 2 atanh(s) with s = e / (2 + e) in [0, 1/3], odd series to s^17
/// (relative error below 1e-7).
static inline __attribute__((always_inline)) float log1p_unit(float e) {
    float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 17;
    p = p * s2 + 1.0f / 15;
    p = p * s2 + 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

#endif
