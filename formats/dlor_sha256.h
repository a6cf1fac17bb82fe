/* dlor_sha256.h - SHA-256 (FIPS 180-4), used to record a digest of the source
 * weight file in a .dlor file's metadata. */
#ifndef DLOR_SHA256_H
#define DLOR_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct dlor_sha256 {
    uint32_t h[8];
    uint64_t total;
    unsigned char buf[64];
    size_t used;
} dlor_sha256;

void dlor_sha256_init(dlor_sha256 *s);
void dlor_sha256_update(dlor_sha256 *s, const void *data, size_t n);
void dlor_sha256_final(dlor_sha256 *s, unsigned char out[32]);
/* Lower-case hex of the digest of data, into hex[65]. */
void dlor_sha256_hex(const void *data, size_t n, char hex[65]);

#endif
