/* test_corruption - every single-byte change and every truncation of a real
 * .dlor sample is detected.
 *
 * The sample is the sawtooth model (samples/sawtooth) converted by the dlor
 * binary, with its graph, plain and --compress. For the plain image, every
 * byte of the header and its padding (the part the header CRC-32 covers) is
 * replaced by each of the 255 other values, and every byte of the tensor data
 * is flipped (XOR 0xFF) and has each of its 8 bits flipped on its own; each
 * changed image must be refused by the validating parser with tensor CRCs
 * (what the host tools and 'dlor run' use), and header changes also without
 * them for the 0xFF and single-bit changes (what an embedded runtime opening
 * with flags 0 relies on). Every
 * truncation and a few extensions are refused. For the compressed file every
 * byte is flipped and bit-flipped and every truncation tried, through the
 * host's inflate-then-validate path. The counts and which check caught each
 * change are printed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_container.h"
#include "testrun.h"
#include "testutil.h"

typedef struct {
    unsigned long tried, missed, header_crc, tensor_crc, other;
} tally;

static void classify(tally *t, int rc, const char *msg)
{
    t->tried++;
    if (rc == 0) t->missed++;
    else if (strstr(msg, "header checksum")) t->header_crc++;
    else if (strstr(msg, "CRC-32") || strstr(msg, "checksum mismatch")) t->tensor_crc++;
    else t->other++;
}

static void report(const char *what, const tally *t)
{
    printf("%-44s %8lu tried, %lu detected (header CRC %lu, tensor/stream CRC %lu, other checks %lu), %lu missed\n",
           what, t->tried, t->tried - t->missed, t->header_crc, t->tensor_crc, t->other, t->missed);
    CHECK(t->tried > 0 && t->missed == 0, "%s: %lu of %lu changes went undetected", what, t->missed, t->tried);
}

static int open_img(const unsigned char *b, size_t n, unsigned flags, char *msg, size_t msgn)
{
    dlor_image img;
    dlor_image_error ie;
    int rc = dlor_image_open(&img, b, n, flags, &ie);
    snprintf(msg, msgn, "%s", rc ? ie.msg : "");
    return rc;
}

/* The host path: inflate (when compressed), then validate with CRCs. */
static int open_host(const unsigned char *b, size_t n, char *msg, size_t msgn)
{
    unsigned char *img;
    size_t len;
    dlor_error e;
    if (dlor_image_inflate(b, n, "sample", &img, &len, &e) != DLOR_OK) {
        snprintf(msg, msgn, "%.250s", e.msg);
        return e.code;
    }
    int rc = open_img(img, len, DLOR_IMAGE_CHECK_CRC, msg, msgn);
    free(img);
    return rc;
}

static void test_plain(unsigned char *b, size_t n)
{
    char msg[300];
    CHECK(open_img(b, n, DLOR_IMAGE_CHECK_CRC, msg, sizeof msg) == 0, "the sample opens: %s", msg);
    size_t data_offset = (size_t)dlor_load_u64(b + 24);
    CHECK(data_offset > 64 && data_offset < n, "data offset %zu", data_offset);
    tally hdr = {0}, hdr_nocrc = {0}, data = {0}, trunc = {0}, ext = {0};
    for (size_t i = 0; i < n; i++) {
        unsigned char orig = b[i];
        for (unsigned v = 1; v < 256; v++) {
            if (i >= data_offset && v != 0xff && (v & (v - 1)) != 0) continue; /* data: 0xFF and single bits */
            b[i] = (unsigned char)(orig ^ v);
            int rc = open_img(b, n, DLOR_IMAGE_CHECK_CRC, msg, sizeof msg);
            if (i < data_offset) {
                classify(&hdr, rc, msg);
                if (v == 0xff || (v & (v - 1)) == 0) classify(&hdr_nocrc, open_img(b, n, 0, msg, sizeof msg), msg);
            } else {
                classify(&data, rc, msg);
            }
        }
        b[i] = orig;
    }
    for (size_t len = 0; len < n; len++) {
        int rc = open_img(b, len, DLOR_IMAGE_CHECK_CRC, msg, sizeof msg);
        classify(&trunc, rc, msg);
        if (len % 97 == 0) classify(&trunc, open_host(b, len, msg, sizeof msg), msg);
    }
    unsigned char *longer = calloc(1, n + 64);
    memcpy(longer, b, n);
    for (size_t extra = 1; extra <= 64; extra++) classify(&ext, open_img(longer, n + extra, DLOR_IMAGE_CHECK_CRC, msg, sizeof msg), msg);
    free(longer);
    CHECK(open_img(b, n, DLOR_IMAGE_CHECK_CRC, msg, sizeof msg) == 0, "the restored sample opens: %s", msg);
    printf("plain sample: %zu bytes, header and padding [0, %zu), data [%zu, %zu)\n", n, data_offset, data_offset, n);
    report("header bytes x 255 values (with tensor CRCs)", &hdr);
    report("header bytes x (0xFF + 8 single bits), flags 0", &hdr_nocrc);
    report("data bytes x (0xFF + 8 single bits)", &data);
    report("truncations (every length)", &trunc);
    report("extensions (1..64 zero bytes)", &ext);
    /* nothing in the header is interpreted before its checksum holds, so no
     * header change gets as far as the tensor CRCs */
    CHECK(hdr.tensor_crc == 0 && hdr_nocrc.tensor_crc == 0, "a header change reached the tensor CRC checks");
}

static void test_compressed(unsigned char *b, size_t n)
{
    char msg[300];
    CHECK(open_host(b, n, msg, sizeof msg) == 0, "the compressed sample opens: %s", msg);
    tally flips = {0}, trunc = {0};
    for (size_t i = 0; i < n; i++) {
        unsigned char orig = b[i];
        for (unsigned v = 1; v < 256; v++) {
            if (v != 0xff && (v & (v - 1)) != 0) continue;
            b[i] = (unsigned char)(orig ^ v);
            classify(&flips, open_host(b, n, msg, sizeof msg), msg);
        }
        b[i] = orig;
    }
    for (size_t len = 0; len < n; len++) classify(&trunc, open_host(b, len, msg, sizeof msg), msg);
    CHECK(open_host(b, n, msg, sizeof msg) == 0, "the restored compressed sample opens: %s", msg);
    printf("compressed sample: %zu bytes\n", n);
    report("bytes x (0xFF + 8 single bits), compressed", &flips);
    report("truncations (every length), compressed", &trunc);
}

int main(void)
{
    char src[1024], plain[512], packed[512], err[2048];
    dlt_source_path(src, sizeof src, "samples/sawtooth/sawtooth.safetensors");
    dlt_tmp_path(plain, sizeof plain, "corruption-plain.dlor");
    dlt_tmp_path(packed, sizeof packed, "corruption-packed.dlor");
    const char *a1[] = {"convert", src, "-o", plain, "--activation", "softplus", NULL};
    const char *a2[] = {"convert", src, "-o", packed, "--activation", "softplus", "--compress", NULL};
    int rc = dlt_run(a1, 0, 0, err, sizeof err);
    CHECK(rc == 0, "convert: %d %s", rc, err);
    rc = dlt_run(a2, 0, 0, err, sizeof err);
    CHECK(rc == 0, "convert --compress: %d %s", rc, err);
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = dlt_read_file(plain, &n1), *b2 = dlt_read_file(packed, &n2);
    CHECK(b1 && n1 > 1000 && b2 && n2 > 1000, "samples written (%zu and %zu bytes)", n1, n2);
    if (b1 && n1 > 1000) test_plain(b1, n1);
    if (b2 && n2 > 1000) test_compressed(b2, n2);
    free(b1);
    free(b2);
    return dlt_finish();
}
