// libpng's progressive-free low-level API needs setjmp for errors, which Swift cannot do, so
// these two functions live in C. Colour-management chunks are ignored: no gamma transforms.
#include "png_straight.h"
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jmp_buf jump;
    char *error;
    size_t error_size;
} failure_t;

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t at;
} reader_t;

typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
} writer_t;

static void on_error(png_structp png, png_const_charp message) {
    failure_t *failure = (failure_t *)png_get_error_ptr(png);
    snprintf(failure->error, failure->error_size, "%s", message);
    longjmp(failure->jump, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void read_memory(png_structp png, png_bytep out, png_size_t length) {
    reader_t *reader = (reader_t *)png_get_io_ptr(png);
    if (reader->at + length > reader->size) png_error(png, "unexpected end of file");
    memcpy(out, reader->data + reader->at, length);
    reader->at += length;
}

static void write_memory(png_structp png, png_bytep in, png_size_t length) {
    writer_t *writer = (writer_t *)png_get_io_ptr(png);
    if (writer->size + length > writer->capacity) {
        size_t capacity = writer->capacity * 2 + length + 4096;
        unsigned char *grown = realloc(writer->data, capacity);
        if (!grown) png_error(png, "out of memory");
        writer->data = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->data + writer->size, in, length);
    writer->size += length;
}

static void flush_memory(png_structp png) { (void)png; }

int png_straight_decode16(const unsigned char *data, size_t size, uint16_t *samples,
                          uint32_t width, uint32_t height, int channels,
                          char *error, size_t error_size) {
    failure_t failure = {.error = error, .error_size = error_size};
    reader_t reader = {.data = data, .size = size, .at = 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, on_error, on_warning);
    if (!png) {
        snprintf(error, error_size, "cannot create libpng reader");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    // volatile: assigned after setjmp and read in its error path (C11 7.13.2.1).
    png_bytep *volatile rows = NULL;
    if (setjmp(failure.jump)) {
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_read_fn(png, &reader, read_memory);
    // The caller checked the size already; no chunk may claim more memory than the file holds.
    png_set_user_limits(png, width, height);
    png_set_chunk_malloc_max(png, size);
    png_read_info(png, info);
    if (png_get_image_width(png, info) != width || png_get_image_height(png, info) != height
        || png_get_bit_depth(png, info) != 16) {
        png_error(png, "header differs from the first decode");
    }
    int color_type = png_get_color_type(png, info);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    int color = (color_type & PNG_COLOR_MASK_COLOR) != 0;
    if ((color ? 4 : 2) != channels) png_error(png, "channel count differs from the first decode");
    png_set_swap(png);  // PNG is big-endian; samples are host order (little-endian hosts)
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * channels * 2) {
        png_error(png, "unexpected row size");
    }
    rows = malloc(sizeof(png_bytep) * height);
    if (!rows) png_error(png, "out of memory");
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(samples + (size_t)y * width * channels);
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int png_straight_encode16(const uint16_t *samples, uint32_t width, uint32_t height, int channels,
                          unsigned char **out, size_t *out_size, char *error, size_t error_size) {
    failure_t failure = {.error = error, .error_size = error_size};
    writer_t writer = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, on_error, on_warning);
    if (!png) {
        snprintf(error, error_size, "cannot create libpng writer");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    // volatile: assigned after setjmp and read in its error path (C11 7.13.2.1).
    png_bytep *volatile rows = NULL;
    if (setjmp(failure.jump)) {
        free(rows);
        free(writer.data);
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    if (channels != 2 && channels != 4) png_error(png, "channels must be 2 or 4");
    png_set_write_fn(png, &writer, write_memory, flush_memory);
    png_set_IHDR(png, info, width, height, 16,
                 channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_GRAY_ALPHA,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_set_swap(png);
    rows = malloc(sizeof(png_bytep) * height);
    if (!rows) png_error(png, "out of memory");
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(samples + (size_t)y * width * channels);
    png_write_image(png, rows);
    png_write_end(png, info);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = writer.data;
    *out_size = writer.size;
    return 0;
}
