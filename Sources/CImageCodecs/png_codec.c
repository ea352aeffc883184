// PNG decode over libpng 1.6, with every libpng error caught here.
//
// libpng reports errors through an error callback that must not return; ours records libpng's
// message and calls png_longjmp back to the setjmp(png_jmpbuf(...)) of the function that called
// libpng. Input comes from memory through our own read callback, which notices when the data
// runs out so a truncated file is reported as such rather than as a generic error.
#include "cimagecodecs.h"
#include "codecs_internal.h"

#include <stdlib.h>
#include <string.h>

#include <png.h>

/// The in-memory PNG being read, plus what the callbacks learned. Lives on the caller's stack.
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    /// Set when libpng asked for more bytes than the data holds.
    int hit_end;
    char *message;
    size_t message_capacity;
} cic_png_source;

/// libpng read callback: copies from memory; running out of data is a libpng error.
static void cic_png_read(png_structp png, png_bytep out, size_t length) {
    cic_png_source *source = (cic_png_source *)png_get_io_ptr(png);
    if (length > source->size - source->offset) {
        source->hit_end = 1;
        png_error(png, "PNG data ends before the image is complete (file truncated)");
    }
    memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

/// libpng error callback: keep the message, then jump back (never returns).
static void cic_png_error(png_structp png, png_const_charp text) {
    cic_png_source *source = (cic_png_source *)png_get_error_ptr(png);
    if (source != NULL) {
        cic_set_message(source->message, source->message_capacity, text);
    }
    png_longjmp(png, 1);
}

/// libpng warning callback: warnings (bad gamma, unknown sRGB profile, ...) do not affect pixels.
static void cic_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

/// Status after a libpng error, from what the callbacks saw.
static cic_status cic_png_failure_status(const cic_png_source *source) {
    if (source->hit_end) {
        return CIC_TRUNCATED;
    }
    if (source->message != NULL && (strstr(source->message, "memory") != NULL ||
                                    strstr(source->message, "Memory") != NULL)) {
        return CIC_OUT_OF_MEMORY;
    }
    return CIC_CORRUPT;
}

/// Owned libpng objects, kept in memory so cleanup after a longjmp sees their current values.
typedef struct {
    png_structp png;
    png_infop info;
    png_bytep *rows;
} cic_png_reader;

static void cic_png_reader_destroy(cic_png_reader *reader) {
    if (reader->png != NULL) {
        png_destroy_read_struct(&reader->png, reader->info != NULL ? &reader->info : NULL, NULL);
    }
    free(reader->rows);
    reader->png = NULL;
    reader->info = NULL;
    reader->rows = NULL;
}

/// Creates the libpng read objects with our callbacks and limits. Returns CIC_OK or
/// CIC_OUT_OF_MEMORY. Does not start reading.
static cic_status cic_png_reader_create(cic_png_reader *reader, cic_png_source *source) {
    memset(reader, 0, sizeof(*reader));
    reader->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, source, cic_png_error, cic_png_warning);
    if (reader->png == NULL) {
        cic_set_message(source->message, source->message_capacity, "libpng could not allocate a reader");
        return CIC_OUT_OF_MEMORY;
    }
    reader->info = png_create_info_struct(reader->png);
    if (reader->info == NULL) {
        cic_png_reader_destroy(reader);
        cic_set_message(source->message, source->message_capacity, "libpng could not allocate a reader");
        return CIC_OUT_OF_MEMORY;
    }
    png_set_read_fn(reader->png, source, cic_png_read);
    // Dimensions are policed by the caller (its pixel-count limit, checked after read_info), so
    // lift libpng's own 1,000,000-pixel-per-side default to the format's limit.
    png_set_user_limits(reader->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    // Pillow refuses any chunk whose CRC is wrong ("broken PNG file"); libpng by default only
    // warns for ancillary chunks. Make both fatal.
    png_set_crc_action(reader->png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    return CIC_OK;
}

/// After png_read_info: registers the unpacking transforms and fills `info`.
/// Must run inside the caller's setjmp scope (libpng calls may fail).
static void cic_png_describe(png_structp png, png_infop png_info, cic_png_info *info) {
    memset(info, 0, sizeof(*info));
    png_uint_32 width = 0;
    png_uint_32 height = 0;
    int bit_depth = 0;
    int color_type = 0;
    int interlace = 0;
    png_get_IHDR(png, png_info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    info->width = width;
    info->height = height;
    info->file_bit_depth = bit_depth;
    info->color_type = color_type;
    info->interlaced = interlace != PNG_INTERLACE_NONE ? 1 : 0;

    png_colorp palette = NULL;
    int palette_entries = 0;
    if (png_get_PLTE(png, png_info, &palette, &palette_entries) != 0 && palette != NULL) {
        if (palette_entries > 256) {
            palette_entries = 256;
        }
        info->palette_entries = palette_entries;
        for (int i = 0; i < palette_entries; i++) {
            info->palette[i * 3 + 0] = palette[i].red;
            info->palette[i * 3 + 1] = palette[i].green;
            info->palette[i * 3 + 2] = palette[i].blue;
        }
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_bytep alpha = NULL;
        int alpha_entries = 0;
        if (png_get_tRNS(png, png_info, &alpha, &alpha_entries, NULL) != 0 && alpha != NULL) {
            if (alpha_entries > 256) {
                alpha_entries = 256;
            }
            info->palette_alpha_entries = alpha_entries;
            memcpy(info->palette_alpha, alpha, (size_t)alpha_entries);
        }
    }

    // Sub-byte samples become one byte each: palette indices as they are (Pillow P;1/P;2/P;4),
    // gray scaled by 255 / (2^depth - 1), i.e. *0x55 for 2-bit and *0x11 for 4-bit, exactly as
    // Pillow's L;2 / L;4 unpackers (ref: Pillow src/libImaging/Unpack.c unpackL2, unpackL4),
    // and 0 / 255 for 1-bit (Pillow mode "1"). No other transform: no gamma, no tRNS expansion,
    // no 16-to-8 stripping — the caller reproduces Pillow's own 16-bit handling.
    if (bit_depth < 8) {
        if (color_type == PNG_COLOR_TYPE_PALETTE) {
            png_set_packing(png);
        } else {
            png_set_expand_gray_1_2_4_to_8(png);
        }
    }
    if (info->interlaced) {
        (void)png_set_interlace_handling(png);
    }
    png_read_update_info(png, png_info);
    info->channels = png_get_channels(png, png_info);
    info->output_bit_depth = png_get_bit_depth(png, png_info);
    info->row_bytes = (uint64_t)png_get_rowbytes(png, png_info);
}

cic_status cic_png_read_info(const uint8_t *data, size_t size, cic_png_info *info,
                             char *message, size_t message_capacity) {
    cic_png_source source = {data, size, 0, 0, message, message_capacity};
    cic_png_reader reader;
    if (data == NULL || info == NULL) {
        cic_set_message(message, message_capacity, "no data");
        return CIC_BAD_ARGUMENT;
    }
    cic_status status = cic_png_reader_create(&reader, &source);
    if (status != CIC_OK) {
        return status;
    }
    if (setjmp(png_jmpbuf(reader.png))) {
        cic_png_reader_destroy(&reader);
        return cic_png_failure_status(&source);
    }
    png_read_info(reader.png, reader.info);
    cic_png_describe(reader.png, reader.info, info);
    cic_png_reader_destroy(&reader);
    return CIC_OK;
}

cic_status cic_png_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity,
                          cic_png_info *info, char *message, size_t message_capacity) {
    cic_png_source source = {data, size, 0, 0, message, message_capacity};
    cic_png_reader reader;
    if (data == NULL || pixels == NULL || info == NULL) {
        cic_set_message(message, message_capacity, "no data or no pixel buffer");
        return CIC_BAD_ARGUMENT;
    }
    cic_status status = cic_png_reader_create(&reader, &source);
    if (status != CIC_OK) {
        return status;
    }
    if (setjmp(png_jmpbuf(reader.png))) {
        cic_png_reader_destroy(&reader);
        return cic_png_failure_status(&source);
    }
    png_read_info(reader.png, reader.info);
    cic_png_describe(reader.png, reader.info, info);
    if ((uint64_t)capacity != info->row_bytes * (uint64_t)info->height) {
        cic_set_message(message, message_capacity, "pixel buffer size does not match the PNG header");
        cic_png_reader_destroy(&reader);
        return CIC_BAD_ARGUMENT;
    }
    reader.rows = malloc((size_t)info->height * sizeof(png_bytep));
    if (reader.rows == NULL) {
        cic_set_message(message, message_capacity, "out of memory for PNG row pointers");
        cic_png_reader_destroy(&reader);
        return CIC_OUT_OF_MEMORY;
    }
    for (uint32_t y = 0; y < info->height; y++) {
        reader.rows[y] = pixels + (size_t)y * (size_t)info->row_bytes;
    }
    png_read_image(reader.png, reader.rows);
    // No png_read_end: like Pillow, chunks after the image data (text, a missing IEND) do not
    // affect the pixels and are not required.
    cic_png_reader_destroy(&reader);
    return CIC_OK;
}
