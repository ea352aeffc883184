// CImageCodecs — a thin C layer over libjpeg(-turbo) and libpng for CogImage.
//
// Why C: both libraries report fatal errors by longjmp out of a callback. A longjmp must never
// cross Swift frames, so every libjpeg / libpng call happens inside the functions below, each of
// which owns its own setjmp and turns a library error into a `cic_status` plus the library's own
// message text. Nothing here ever calls exit() or abort().
//
// Usage pattern (both formats): call `*_read_info` first. It parses only the header (JPEG: up
// to the first scan; PNG: up to the first IDAT) and allocates nothing image-sized, so the caller
// can reject a decompression bomb by its dimensions. Then allocate `info.row_bytes * info.height`
// bytes and call `*_decode`, which re-parses the header and fills that buffer.
//
// Decoded layout: rows top to bottom, no padding between rows, samples interleaved.
//   JPEG: 1 channel (gray), 3 (RGB) or 4 (CMYK exactly as stored in the file — Adobe
//         files store it inverted; interpretation is left to the caller), 8 bits per sample.
//   PNG:  the file's own channels without colour conversion: gray (1), gray+alpha (2), RGB (3),
//         RGBA (4), or palette indices (1, with the palette in `cic_png_info`). Sub-byte depths
//         are unpacked to one byte per sample (gray scaled to 0...255, palette indices kept);
//         16-bit samples stay 16-bit, big-endian (PNG order).
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Outcome of a codec call. Stable numbers: CogImage maps them to `ImageError` codes.
typedef enum {
    CIC_OK = 0,
    /// The library rejected the data (bad marker, CRC mismatch, invalid header, ...).
    CIC_CORRUPT = 1,
    /// The data ended before the image was complete.
    CIC_TRUNCATED = 2,
    /// Valid data in a variant we do not handle (12-bit JPEG, 2-channel JPEG, lossless JPEG, ...).
    CIC_UNSUPPORTED = 3,
    /// An allocation inside the library failed.
    CIC_OUT_OF_MEMORY = 4,
    /// The caller passed an inconsistent argument (e.g. a pixel buffer of the wrong size).
    CIC_BAD_ARGUMENT = 5,
} cic_status;

/// Size of the message buffer every call accepts (the library's text, NUL-terminated).
#define CIC_MESSAGE_CAPACITY 320

// MARK: JPEG

typedef struct {
    uint32_t width;
    uint32_t height;
    /// Channels in the decoded output: 1 (gray), 3 (RGB) or 4 (CMYK as stored).
    int32_t channels;
    /// Bytes per decoded row: width * channels.
    uint64_t row_bytes;
    /// Components in the file (1, 3 or 4 for supported files).
    int32_t file_components;
    /// The file's colour space as libjpeg guessed it (J_COLOR_SPACE: 1 gray, 2 RGB, 3 YCbCr,
    /// 4 CMYK, 5 YCCK).
    int32_t file_color_space;
    /// 1 when the file is progressive.
    int32_t progressive;
    /// 1 when an Adobe APP14 marker is present.
    int32_t saw_adobe_marker;
    /// Restart interval in MCUs (0 when the file has no restart markers).
    uint32_t restart_interval;
} cic_jpeg_info;

/// Parses the JPEG header (no pixel data). `message` receives libjpeg's text on failure.
cic_status cic_jpeg_read_info(const uint8_t *data, size_t size, cic_jpeg_info *info,
                              char *message, size_t message_capacity);

/// Decodes the whole image into `pixels` (`capacity` must equal info.row_bytes * info.height for
/// the same data). Uses libjpeg's defaults — accurate integer IDCT (JDCT_ISLOW) and fancy
/// upsampling — which is what Pillow uses outside draft mode.
cic_status cic_jpeg_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity,
                           cic_jpeg_info *info, char *message, size_t message_capacity);

/// Encodes 8-bit interleaved RGB ([height, width, 3]) as a baseline JFIF JPEG (YCbCr, no chroma
/// subsampling, i.e. 4:4:4) at `quality` (1...100). On success `*out` holds malloc'd bytes the caller frees
/// with `cic_free`.
cic_status cic_jpeg_encode_rgb(const uint8_t *pixels, uint32_t width, uint32_t height, int quality,
                               uint8_t **out, size_t *out_size, char *message, size_t message_capacity);

/// Frees memory returned by this library.
void cic_free(void *pointer);

// MARK: PNG

typedef struct {
    uint32_t width;
    uint32_t height;
    /// Bit depth as stored in IHDR: 1, 2, 4, 8 or 16.
    int32_t file_bit_depth;
    /// PNG colour type from IHDR: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    int32_t color_type;
    /// 1 when Adam7-interlaced.
    int32_t interlaced;
    /// Channels in the decoded output (1, 2, 3 or 4).
    int32_t channels;
    /// Bits per decoded sample: 8 or 16.
    int32_t output_bit_depth;
    /// Bytes per decoded row.
    uint64_t row_bytes;
    /// Entries in PLTE (0 when absent).
    int32_t palette_entries;
    /// PLTE as [entries, 3] RGB bytes; unused entries are 0.
    uint8_t palette[256 * 3];
    /// Entries in a palette tRNS chunk (0 when absent); alpha values in `palette_alpha`.
    int32_t palette_alpha_entries;
    uint8_t palette_alpha[256];
} cic_png_info;

/// Parses the PNG signature and every chunk up to the first IDAT (no pixel data).
cic_status cic_png_read_info(const uint8_t *data, size_t size, cic_png_info *info,
                             char *message, size_t message_capacity);

/// Decodes the whole image into `pixels` (`capacity` must equal info.row_bytes * info.height).
/// CRCs are checked on every chunk; a mismatch is CIC_CORRUPT.
cic_status cic_png_decode(const uint8_t *data, size_t size, uint8_t *pixels, size_t capacity,
                          cic_png_info *info, char *message, size_t message_capacity);

#ifdef __cplusplus
}
#endif
