// 16-bit PNG with straight (unassociated) alpha, which libpng's simplified API cannot express:
// its 16-bit formats are linear with premultiplied alpha, so alpha images would not round-trip.
#ifndef PNG_STRAIGHT_H
#define PNG_STRAIGHT_H
#include <stddef.h>
#include <stdint.h>

/// Decodes a 16-bit PNG with alpha (or tRNS) to interleaved host-order samples, alpha last.
/// `channels` is 2 (gray+alpha) or 4 (RGBA). Returns 0 on success, else writes `error`.
int png_straight_decode16(const unsigned char *data, size_t size, uint16_t *samples,
                          uint32_t width, uint32_t height, int channels,
                          char *error, size_t error_size);

/// Encodes interleaved host-order 16-bit samples (channels 2 or 4, straight alpha) as PNG.
/// `*out` is malloc'ed; the caller frees it. Returns 0 on success, else writes `error`.
int png_straight_encode16(const uint16_t *samples, uint32_t width, uint32_t height, int channels,
                          unsigned char **out, size_t *out_size, char *error, size_t error_size);

#endif
