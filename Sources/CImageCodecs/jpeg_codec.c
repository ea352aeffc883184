// JPEG decode and encode over libjpeg(-turbo), with every libjpeg error caught here.
//
// libjpeg's default error handler prints and calls exit(). We install our own `error_exit` that
// formats libjpeg's message into the caller's buffer and longjmps back into the function that
// called libjpeg, which then destroys the codec object and returns a status. Warnings are ignored
// (as Pillow ignores them) with one exception: "Premature end of JPEG file" before every scanline
// has been read means the file is truncated. libjpeg would pad the image with grey and carry on;
// Pillow raises "image file is truncated", and so do we.
#include "cimagecodecs.h"
#include "codecs_internal.h"

#include <setjmp.h>
#include <stdio.h>  // jpeglib.h needs FILE and size_t before it is included
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/// libjpeg error manager extended with our jump target and outcome. `pub` must come first:
/// libjpeg hands us a `struct jpeg_error_mgr *` that we cast back to this struct.
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    cic_status status;
    /// Set once all scanlines were read: a missing EOI after that is harmless (Pillow accepts it).
    int scanlines_complete;
    char *message;
    size_t message_capacity;
} cic_jpeg_error_manager;

/// Maps a libjpeg message code to our status: a few codes mean "valid but not handled".
static cic_status cic_jpeg_classify(int message_code) {
    switch (message_code) {
    case JERR_OUT_OF_MEMORY:
        return CIC_OUT_OF_MEMORY;
    case JERR_BAD_PRECISION:
    case JERR_SOF_UNSUPPORTED:
    case JERR_NOT_COMPILED:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_ARITH_NOTIMPL:
    case JERR_IMAGE_TOO_BIG:
    case JERR_WIDTH_OVERFLOW:
    case JERR_EMPTY_IMAGE:
        return CIC_UNSUPPORTED;
    case JERR_INPUT_EMPTY:
        return CIC_TRUNCATED;
    default:
        return CIC_CORRUPT;
    }
}

/// Records libjpeg's formatted message and status, then jumps back to the caller's setjmp.
static void cic_jpeg_fail(j_common_ptr cinfo, cic_status status) {
    cic_jpeg_error_manager *manager = (cic_jpeg_error_manager *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    cic_set_message(manager->message, manager->message_capacity, text);
    manager->status = status;
    longjmp(manager->jump, 1);
}

/// Replaces libjpeg's `error_exit` (which would call exit()).
static void cic_jpeg_error_exit(j_common_ptr cinfo) {
    cic_jpeg_fail(cinfo, cic_jpeg_classify(cinfo->err->msg_code));
}

/// Replaces libjpeg's `emit_message`: traces (level >= 0) and warnings are dropped, except
/// premature end of data before the last scanline, which becomes a truncation error.
static void cic_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    cic_jpeg_error_manager *manager = (cic_jpeg_error_manager *)cinfo->err;
    if (msg_level >= 0) {
        return;
    }
    if (cinfo->err->msg_code == JWRN_JPEG_EOF && !manager->scanlines_complete) {
        cic_jpeg_fail(cinfo, CIC_TRUNCATED);
    }
    cinfo->err->num_warnings++;
}

/// Silences libjpeg's stderr output entirely.
static void cic_jpeg_output_message(j_common_ptr cinfo) {
    (void)cinfo;
}

static void cic_jpeg_install_error_manager(cic_jpeg_error_manager *manager, char *message,
                                           size_t message_capacity) {
    memset(manager, 0, sizeof(*manager));
    jpeg_std_error(&manager->pub);
    manager->pub.error_exit = cic_jpeg_error_exit;
    manager->pub.emit_message = cic_jpeg_emit_message;
    manager->pub.output_message = cic_jpeg_output_message;
    manager->status = CIC_OK;
    manager->message = message;
    manager->message_capacity = message_capacity;
}

/// After jpeg_read_header: checks the file is a variant we decode, chooses the output colour
/// space, and fills `info`. Returns CIC_UNSUPPORTED (with a message) for other component counts.
static cic_status cic_jpeg_describe(struct jpeg_decompress_struct *cinfo, cic_jpeg_info *info,
                                    char *message, size_t message_capacity) {
    memset(info, 0, sizeof(*info));
    info->width = cinfo->image_width;
    info->height = cinfo->image_height;
    info->file_components = cinfo->num_components;
    info->file_color_space = (int32_t)cinfo->jpeg_color_space;
    info->progressive = cinfo->progressive_mode ? 1 : 0;
    info->saw_adobe_marker = cinfo->saw_Adobe_marker ? 1 : 0;
    info->restart_interval = cinfo->restart_interval;
    // Pillow's JpegImagePlugin accepts 1 (L), 3 (RGB) and 4 (CMYK) layers and asks libjpeg for
    // exactly those colour spaces, trusting libjpeg's guess of the file's colour space
    // (JFIF / Adobe transform flag). ref: Pillow src/PIL/JpegImagePlugin.py SOF handler,
    // src/libImaging/JpegDecode.c "rawmode indicates what we want from the decoder".
    switch (cinfo->num_components) {
    case 1:
        cinfo->out_color_space = JCS_GRAYSCALE;
        info->channels = 1;
        break;
    case 3:
        cinfo->out_color_space = JCS_RGB;
        info->channels = 3;
        break;
    case 4:
        // libjpeg converts YCCK to CMYK itself; the CMYK values come out as stored (inverted
        // in Adobe files).
        cinfo->out_color_space = JCS_CMYK;
        info->channels = 4;
        break;
    default: {
        char text[96];
        snprintf(text, sizeof(text), "JPEG with %d colour components is not supported",
                 cinfo->num_components);
        cic_set_message(message, message_capacity, text);
        return CIC_UNSUPPORTED;
    }
    }
    info->row_bytes = (uint64_t)info->width * (uint64_t)info->channels;
    return CIC_OK;
}

cic_status cic_jpeg_read_info(const uint8_t *data, size_t size, cic_jpeg_info *info,
                              char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    cic_jpeg_error_manager manager;
    if (data == NULL || info == NULL) {
        cic_set_message(message, message_capacity, "no data");
        return CIC_BAD_ARGUMENT;
    }
    memset(&cinfo, 0, sizeof(cinfo));
    cic_jpeg_install_error_manager(&manager, message, message_capacity);
    cinfo.err = &manager.pub;
    if (setjmp(manager.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return manager.status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cic_status status = cic_jpeg_describe(&cinfo, info, message, message_capacity);
    jpeg_destroy_decompress(&cinfo);
    return status;
}

cic_status cic_jpeg_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity,
                           cic_jpeg_info *info, char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    cic_jpeg_error_manager manager;
    if (data == NULL || pixels == NULL || info == NULL) {
        cic_set_message(message, message_capacity, "no data or no pixel buffer");
        return CIC_BAD_ARGUMENT;
    }
    memset(&cinfo, 0, sizeof(cinfo));
    cic_jpeg_install_error_manager(&manager, message, message_capacity);
    cinfo.err = &manager.pub;
    if (setjmp(manager.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return manager.status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cic_status status = cic_jpeg_describe(&cinfo, info, message, message_capacity);
    if (status != CIC_OK) {
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    if ((uint64_t)capacity != info->row_bytes * (uint64_t)info->height) {
        cic_set_message(message, message_capacity, "pixel buffer size does not match the JPEG header");
        jpeg_destroy_decompress(&cinfo);
        return CIC_BAD_ARGUMENT;
    }
    // Decoder settings stay at libjpeg's defaults (JDCT_ISLOW, fancy upsampling, no scaling):
    // Pillow changes them only in draft mode.
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != info->width || cinfo.output_height != info->height ||
        cinfo.output_components != info->channels) {
        cic_set_message(message, message_capacity, "libjpeg output shape differs from the header");
        jpeg_destroy_decompress(&cinfo);
        return CIC_CORRUPT;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * (size_t)info->row_bytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    manager.scanlines_complete = 1;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return CIC_OK;
}

/// Where jpeg_mem_dest writes; kept in memory (not registers) so it survives a longjmp.
typedef struct {
    unsigned char *bytes;
    unsigned long size;
} cic_jpeg_destination;

cic_status cic_jpeg_encode_rgb(const uint8_t *pixels, uint32_t width, uint32_t height, int quality,
                               uint8_t **out, size_t *out_size, char *message, size_t message_capacity) {
    struct jpeg_compress_struct cinfo;
    cic_jpeg_error_manager manager;
    cic_jpeg_destination destination = {NULL, 0};
    if (pixels == NULL || out == NULL || out_size == NULL || width == 0 || height == 0) {
        cic_set_message(message, message_capacity, "no pixels, no output pointer or an empty image");
        return CIC_BAD_ARGUMENT;
    }
    if (quality < 1 || quality > 100) {
        cic_set_message(message, message_capacity, "JPEG quality must be between 1 and 100");
        return CIC_BAD_ARGUMENT;
    }
    *out = NULL;
    *out_size = 0;
    memset(&cinfo, 0, sizeof(cinfo));
    cic_jpeg_install_error_manager(&manager, message, message_capacity);
    cinfo.err = &manager.pub;
    if (setjmp(manager.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(destination.bytes);
        return manager.status;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &destination.bytes, &destination.size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    // Full-resolution chroma (4:4:4): drawn boxes are thin coloured lines, which 4:2:0 smears.
    cinfo.comp_info[0].h_samp_factor = 1;
    cinfo.comp_info[0].v_samp_factor = 1;
    jpeg_start_compress(&cinfo, TRUE);
    const size_t row_bytes = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        // libjpeg does not write through the row pointer; the cast only drops `const`.
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * row_bytes);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = destination.bytes;
    *out_size = (size_t)destination.size;
    return CIC_OK;
}
