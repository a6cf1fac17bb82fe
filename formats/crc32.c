/* crc32.c - table-driven CRC-32, reflected polynomial 0xEDB88320. */
#include "dlor_crc32.h"

static const uint32_t *crc_table(void)
{
    /* Built on first use; concurrent first calls write identical values. */
    static uint32_t table[256];
    static volatile int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    return table;
}

uint32_t dlor_crc32(uint32_t crc, const void *data, size_t n)
{
    const uint32_t *t = crc_table();
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
    while (n--) crc = t[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
