/* dlor_crc32.h - CRC-32 (IEEE 802.3 polynomial, reflected; the checksum of
 * zip, gzip and PNG). Pure C99, no tables in memory beyond one static array. */
#ifndef DLOR_CRC32_H
#define DLOR_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Continues a CRC: start with crc = 0. dlor_crc32(0, "123456789", 9) == 0xCBF43926. */
uint32_t dlor_crc32(uint32_t crc, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
