/* Writes JPEG variants that Pillow's encoder cannot produce, for the CogImage golden images.
 *
 * usage: make_jpeg_variant KIND WIDTH HEIGHT QUALITY RAW_IN JPEG_OUT
 *   KIND  ycck        4-channel input stored as YCCK with an Adobe marker (transform 2)
 *         cmyk-plain  4-channel input stored as CMYK without an Adobe marker
 *         adobe-rgb   3-channel input stored as RGB (no YCbCr transform, Adobe transform 0)
 *   RAW_IN  interleaved 8-bit samples, WIDTH*HEIGHT*channels bytes
 *
 * Built and run by make_images.py; the input bytes come from that script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s KIND WIDTH HEIGHT QUALITY RAW_IN JPEG_OUT\n", argv[0]);
        return 2;
    }
    const char *kind = argv[1];
    int width = atoi(argv[2]);
    int height = atoi(argv[3]);
    int quality = atoi(argv[4]);
    int channels = strcmp(kind, "adobe-rgb") == 0 ? 3 : 4;
    size_t size = (size_t)width * (size_t)height * (size_t)channels;
    unsigned char *pixels = malloc(size);
    FILE *in = fopen(argv[5], "rb");
    if (pixels == NULL || in == NULL || fread(pixels, 1, size, in) != size) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", size, argv[5]);
        return 1;
    }
    fclose(in);
    FILE *out = fopen(argv[6], "wb");
    if (out == NULL) {
        fprintf(stderr, "cannot write %s\n", argv[6]);
        return 1;
    }

    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr); /* default handler exits on error: fine for a tool */
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, out);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (strcmp(kind, "ycck") == 0) {
        jpeg_set_colorspace(&cinfo, JCS_YCCK);
    } else if (strcmp(kind, "cmyk-plain") == 0) {
        jpeg_set_colorspace(&cinfo, JCS_CMYK);
        cinfo.write_Adobe_marker = FALSE;
    } else if (strcmp(kind, "adobe-rgb") == 0) {
        jpeg_set_colorspace(&cinfo, JCS_RGB); /* writes an Adobe marker with transform 0 */
    } else {
        fprintf(stderr, "unknown kind %s\n", kind);
        return 2;
    }
    jpeg_start_compress(&cinfo, TRUE);
    size_t row_bytes = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = pixels + (size_t)cinfo.next_scanline * row_bytes;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(out);
    free(pixels);
    return 0;
}
