/* zip.c - read-only zip walker over a buffer in memory (APPNOTE 6.3, zip64).
 *
 * The central directory is authoritative; every local header must agree with
 * it. All offsets and sizes come from the file and are checked with 64-bit
 * arithmetic against the buffer before they are used. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "dlor_zip.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u

#define EOCD_SIZE 22u
#define LOCATOR64_SIZE 20u
#define EOCD64_MIN 56u
#define CENTRAL_SIZE 46u
#define LOCAL_SIZE 30u
#define SAT16 0xffffu
#define SAT32 0xffffffffu

#define FLAG_ENCRYPTED 0x0001u
#define FLAG_DESCRIPTOR 0x0008u
#define FLAG_STRONG_ENC 0x0040u
#define FLAG_MASKED 0x2000u

/* Deflate cannot produce more than 1032 output bytes per input byte. */
#define DEFLATE_MAX_RATIO 1032u

typedef struct {
    const char *what;
    char nm[200]; /* quoted name of the entry being checked */
    dlor_error *err;
} zctx;

const char *dlor_zip_quote(const unsigned char *s, size_t n, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outsz == 0) return out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        size_t w = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;
        /* keep room for "..." and the NUL */
        if (o + w + 4 > outsz) {
            if (o + 4 <= outsz) memcpy(out + o, "...", 3), o += 3;
            break;
        }
        if (w == 1) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
    return out;
}

static const char *method_name(unsigned m)
{
    switch (m) {
    case 1: return "shrink";
    case 6: return "implode";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "LZMA";
    case 93: return "zstd";
    case 95: return "xz";
    case 98: return "PPMd";
    case 99: return "AES encryption";
    default: return "unknown";
    }
}

/* Finds the end record: the only "PK\5\6" whose comment runs exactly to the
 * end of the file. A second such record means a fake one sits in a comment. */
static dlor_status find_eocd(const unsigned char *buf, size_t len, const char *what, size_t *pos,
                             dlor_error *err)
{
    if (len < EOCD_SIZE)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: %zu bytes is too short for a zip archive", what,
                         len);
    size_t last = len - EOCD_SIZE;
    size_t lo = last > 65535 ? last - 65535 : 0;
    size_t found = SIZE_MAX, other = SIZE_MAX;
    for (size_t p = last;; p--) {
        if (dlor_load_u32(buf + p) == SIG_EOCD && p + EOCD_SIZE + dlor_load_u16(buf + p + 20) == len) {
            if (found == SIZE_MAX) found = p;
            else if (other == SIZE_MAX) other = p;
        }
        if (p == lo) break;
    }
    if (found == SIZE_MAX)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: no zip end-of-central-directory record (not a zip archive, or truncated)",
                         what);
    if (other != SIZE_MAX)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: two zip end-of-central-directory records (at offsets %zu and %zu), one "
                         "hidden in the archive comment; refusing an ambiguous archive",
                         what, other, found);
    *pos = found;
    return DLOR_OK;
}

/* Walks an extra field and returns the zip64 block (id 0x0001), if any. */
static dlor_status walk_extra(zctx *c, const char *where, const unsigned char *x, size_t n,
                              const unsigned char **z64, size_t *z64len)
{
    *z64 = NULL;
    *z64len = 0;
    while (n > 0) {
        if (n < 4)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: member '%s': %s extra field is truncated (%zu stray bytes)",
                             c->what, c->nm, where, n);
        unsigned id = dlor_load_u16(x), sz = dlor_load_u16(x + 2);
        if (sz > n - 4)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: member '%s': %s extra field 0x%04x claims %u bytes but only %zu remain",
                             c->what, c->nm, where, id, sz, n - 4);
        if (id == 0x0001) {
            if (*z64)
                return dlor_fail(c->err, DLOR_E_FORMAT,
                                 "%s: member '%s': %s has two zip64 extra fields", c->what, c->nm,
                                 where);
            *z64 = x + 4;
            *z64len = sz;
        }
        x += 4 + sz;
        n -= 4 + (size_t)sz;
    }
    return DLOR_OK;
}

/* Takes the next 8 (or 4) bytes of a zip64 extra for a saturated field. */
static dlor_status z64_field(zctx *c, const char *where, const char *field, const unsigned char *z64,
                             size_t z64len, size_t *off, size_t width, uint64_t *v)
{
    if (!z64)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': %s %s is saturated (0xFFFFFFFF) but there is no zip64 "
                         "extra field",
                         c->what, c->nm, where, field);
    if (z64len - *off < width)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': %s zip64 extra field of %zu bytes lacks the %s", c->what,
                         c->nm, where, z64len, field);
    *v = width == 8 ? dlor_load_u64(z64 + *off) : dlor_load_u32(z64 + *off);
    *off += width;
    return DLOR_OK;
}

static dlor_status check_name(zctx *c, const unsigned char *s, size_t n)
{
    if (n == 0) return dlor_fail(c->err, DLOR_E_FORMAT, "%s: member with an empty name", c->what);
    if (memchr(s, 0, n))
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: member name '%s' contains a NUL byte", c->what,
                         c->nm);
    if (memchr(s, '\\', n))
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: member name '%s' contains a backslash",
                         c->what, c->nm);
    if (s[0] == '/' ||
        (n >= 2 && s[1] == ':' && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))))
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: member name '%s' is an absolute path",
                         c->what, c->nm);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] != '/') j++;
        if (j - i == 2 && s[i] == '.' && s[i + 1] == '.')
            return dlor_fail(c->err, DLOR_E_FORMAT, "%s: member name '%s' has a '..' component",
                             c->what, c->nm);
        i = j + 1;
    }
    return DLOR_OK;
}

/* Parses the central directory entry at p (bounded by end) into e. */
static dlor_status parse_central(zctx *c, const unsigned char *p, size_t avail, size_t idx,
                                 dlor_zip_entry *e, size_t *used)
{
    dlor_status st;
    if (avail < CENTRAL_SIZE || dlor_load_u32(p) != SIG_CENTRAL)
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: central directory entry %zu is %s", c->what,
                         idx, avail < CENTRAL_SIZE ? "truncated" : "missing its signature");
    size_t nlen = dlor_load_u16(p + 28), elen = dlor_load_u16(p + 30), clen = dlor_load_u16(p + 32);
    if (avail - CENTRAL_SIZE < nlen + elen + clen)
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: central directory entry %zu is truncated",
                         c->what, idx);
    e->name = p + CENTRAL_SIZE;
    e->name_len = nlen;
    dlor_zip_quote(e->name, nlen, c->nm, sizeof c->nm);
    if ((st = check_name(c, e->name, nlen)) != DLOR_OK) return st;
    e->flags = dlor_load_u16(p + 8);
    e->method = dlor_load_u16(p + 10);
    e->crc = dlor_load_u32(p + 16);
    if (e->flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENC))
        return dlor_fail(c->err, DLOR_E_UNSUPPORTED, "%s: member '%s' is encrypted", c->what, c->nm);
    if (e->flags & FLAG_MASKED)
        return dlor_fail(c->err, DLOR_E_UNSUPPORTED,
                         "%s: member '%s' has a masked local header (flag bit 13)", c->what, c->nm);
    if (e->method != 0 && e->method != 8)
        return dlor_fail(c->err, DLOR_E_UNSUPPORTED,
                         "%s: member '%s' uses compression method %u (%s); only 0 (stored) and 8 "
                         "(deflate) are supported",
                         c->what, c->nm, e->method, method_name(e->method));

    const unsigned char *z64;
    size_t z64len, off = 0;
    if ((st = walk_extra(c, "central directory", p + CENTRAL_SIZE + nlen, elen, &z64, &z64len)) != DLOR_OK)
        return st;
    uint32_t usize32 = dlor_load_u32(p + 24), csize32 = dlor_load_u32(p + 20);
    uint32_t lho32 = dlor_load_u32(p + 42);
    uint16_t disk16 = dlor_load_u16(p + 34);
    uint64_t disk = disk16;
    e->usize = usize32;
    e->csize = csize32;
    e->header_offset = lho32;
    /* zip64 extra holds only the saturated fields, in this fixed order */
    if (usize32 == SAT32 &&
        (st = z64_field(c, "central directory", "uncompressed size", z64, z64len, &off, 8, &e->usize)))
        return st;
    if (csize32 == SAT32 &&
        (st = z64_field(c, "central directory", "compressed size", z64, z64len, &off, 8, &e->csize)))
        return st;
    if (lho32 == SAT32 &&
        (st = z64_field(c, "central directory", "local header offset", z64, z64len, &off, 8,
                        &e->header_offset)))
        return st;
    if (disk16 == SAT16 &&
        (st = z64_field(c, "central directory", "disk number", z64, z64len, &off, 4, &disk)))
        return st;
    if (disk != 0)
        return dlor_fail(c->err, DLOR_E_UNSUPPORTED, "%s: member '%s' is on disk %llu (multi-disk archive)",
                         c->what, c->nm, (unsigned long long)disk);
    if (e->method == 0 && e->csize != e->usize)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s' is stored but its sizes differ (%llu compressed, %llu "
                         "uncompressed)",
                         c->what, c->nm, (unsigned long long)e->csize, (unsigned long long)e->usize);
    *used = CENTRAL_SIZE + nlen + elen + clen;
    return DLOR_OK;
}

/* The data descriptor after a member's data: optional signature 0x08074b50,
 * CRC-32, then compressed and uncompressed sizes as 4 or (zip64) 8 bytes each.
 * It must agree with the central directory and end before data_limit. */
static dlor_status check_descriptor(zctx *c, const unsigned char *buf, uint64_t data_limit,
                                    dlor_zip_entry *e)
{
    uint64_t at = e->data_offset + e->csize, room = data_limit - at;
    const unsigned char *d = buf + at;
    uint64_t sig = 0;
    if (room >= 4 && dlor_load_u32(d) == 0x08074b50u) {
        d += 4;
        room -= 4;
        sig = 4;
    }
    int wide = e->csize >= SAT32 || e->usize >= SAT32;
    uint64_t need = wide ? 20 : 12;
    if (room < need)
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: member '%s': data descriptor is truncated", c->what, c->nm);
    uint32_t crc = dlor_load_u32(d);
    uint64_t cs = wide ? dlor_load_u64(d + 4) : dlor_load_u32(d + 4);
    uint64_t us = wide ? dlor_load_u64(d + 12) : dlor_load_u32(d + 8);
    /* some writers use 8-byte sizes for every member once the archive is zip64 */
    if (!wide && (cs != e->csize || us != e->usize) && room >= 20 && dlor_load_u64(d + 4) == e->csize &&
        dlor_load_u64(d + 12) == e->usize) {
        cs = e->csize;
        us = e->usize;
        need = 20;
    }
    e->data_end = at + sig + need;
    if (crc != e->crc || cs != e->csize || us != e->usize)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': data descriptor (CRC-32 0x%08x, sizes %llu/%llu) differs from the "
                         "central directory (0x%08x, %llu/%llu)",
                         c->what, c->nm, (unsigned)crc, (unsigned long long)cs, (unsigned long long)us,
                         (unsigned)e->crc, (unsigned long long)e->csize, (unsigned long long)e->usize);
    return DLOR_OK;
}

/* Checks the local header of e against the central directory and sets
 * e->data_offset. Member data must end before data_limit (the central
 * directory). */
static dlor_status check_local(zctx *c, const unsigned char *buf, size_t len, uint64_t data_limit,
                               dlor_zip_entry *e)
{
    dlor_status st;
    uint64_t lh = e->header_offset;
    if (lh > len || len - lh < LOCAL_SIZE)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': local header offset %llu is outside the file (%zu bytes)",
                         c->what, c->nm, (unsigned long long)lh, len);
    const unsigned char *p = buf + lh;
    if (dlor_load_u32(p) != SIG_LOCAL)
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: member '%s': no local header at offset %llu",
                         c->what, c->nm, (unsigned long long)lh);
    size_t nlen = dlor_load_u16(p + 26), elen = dlor_load_u16(p + 28);
    if (len - lh - LOCAL_SIZE < nlen + elen)
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: member '%s': local header runs past the end of the file",
                         c->what, c->nm);
    if (nlen != e->name_len || memcmp(p + LOCAL_SIZE, e->name, nlen) != 0) {
        char ln[200];
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': local header names it '%s'", c->what, c->nm,
                         dlor_zip_quote(p + LOCAL_SIZE, nlen, ln, sizeof ln));
    }
    unsigned lflags = dlor_load_u16(p + 6), lmethod = dlor_load_u16(p + 8);
    uint32_t lcrc = dlor_load_u32(p + 14);
    /* With a data descriptor (flag bit 3, written by torch.save's miniz) the
     * local CRC and sizes may be zero; the descriptor after the data holds them. */
    int described = (e->flags & FLAG_DESCRIPTOR) != 0;
    if (lflags != e->flags)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': local header flags 0x%04x differ from the central "
                         "directory's 0x%04x",
                         c->what, c->nm, lflags, e->flags);
    if (lmethod != e->method)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': local header method %u differs from the central "
                         "directory's %u",
                         c->what, c->nm, lmethod, e->method);
    if (lcrc != e->crc && !(described && lcrc == 0))
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': local header CRC-32 0x%08x differs from the central "
                         "directory's 0x%08x",
                         c->what, c->nm, (unsigned)lcrc, (unsigned)e->crc);
    const unsigned char *z64;
    size_t z64len;
    if ((st = walk_extra(c, "local header", p + LOCAL_SIZE + nlen, elen, &z64, &z64len)) != DLOR_OK)
        return st;
    uint32_t lcsize32 = dlor_load_u32(p + 18), lusize32 = dlor_load_u32(p + 22);
    uint64_t lcsize = lcsize32, lusize = lusize32;
    if (lcsize32 == SAT32 || lusize32 == SAT32) {
        /* a local zip64 extra must carry both sizes */
        if (!z64)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: member '%s': local header sizes are saturated (0xFFFFFFFF) but "
                             "there is no zip64 extra field",
                             c->what, c->nm);
        if (z64len < 16)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: member '%s': local zip64 extra field has %zu bytes; it must hold "
                             "both sizes (16)",
                             c->what, c->nm, z64len);
        if (lusize32 == SAT32) lusize = dlor_load_u64(z64);
        if (lcsize32 == SAT32) lcsize = dlor_load_u64(z64 + 8);
    }
    if ((lcsize != e->csize || lusize != e->usize) && !(described && lcsize == 0 && lusize == 0))
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': local header sizes (%llu compressed, %llu uncompressed) "
                         "differ from the central directory's (%llu, %llu)",
                         c->what, c->nm, (unsigned long long)lcsize, (unsigned long long)lusize,
                         (unsigned long long)e->csize, (unsigned long long)e->usize);
    e->data_offset = lh + LOCAL_SIZE + nlen + elen;
    if (e->data_offset > data_limit || e->csize > data_limit - e->data_offset)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s': %llu bytes of data at offset %llu run past the start of "
                         "the central directory (%llu)",
                         c->what, c->nm, (unsigned long long)e->csize,
                         (unsigned long long)e->data_offset, (unsigned long long)data_limit);
    e->data_end = e->data_offset + e->csize;
    if (described) return check_descriptor(c, buf, data_limit, e);
    return DLOR_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const dlor_zip_entry *x = *(const dlor_zip_entry *const *)a, *y = *(const dlor_zip_entry *const *)b;
    return x->header_offset < y->header_offset ? -1 : x->header_offset > y->header_offset;
}

static int cmp_name(const void *a, const void *b)
{
    const dlor_zip_entry *x = *(const dlor_zip_entry *const *)a, *y = *(const dlor_zip_entry *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int r = memcmp(x->name, y->name, n);
    if (r) return r;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Sorted views: no two members may share a name or overlap (Fifield's
 * overlapping-entry bomb reuses one compressed body for many members). */
static dlor_status check_set(zctx *c, dlor_zip_entry *ents, size_t n)
{
    if (n < 2) return DLOR_OK;
    dlor_zip_entry **v = malloc(n * sizeof *v);
    if (!v) return dlor_fail(c->err, DLOR_E_NOMEM, "%s: out of memory", c->what);
    for (size_t i = 0; i < n; i++) v[i] = &ents[i];
    dlor_status st = DLOR_OK;
    qsort(v, n, sizeof *v, cmp_name);
    for (size_t i = 1; i < n && st == DLOR_OK; i++)
        if (cmp_name(&v[i - 1], &v[i]) == 0)
            st = dlor_fail(c->err, DLOR_E_FORMAT, "%s: duplicate member name '%s'", c->what,
                           dlor_zip_quote(v[i]->name, v[i]->name_len, c->nm, sizeof c->nm));
    if (st == DLOR_OK) qsort(v, n, sizeof *v, cmp_offset);
    for (size_t i = 1; i < n && st == DLOR_OK; i++) {
        const dlor_zip_entry *a = v[i - 1], *b = v[i];
        if (a->data_end > b->header_offset) {
            char bn[200];
            st = dlor_fail(c->err, DLOR_E_FORMAT,
                           "%s: members '%s' and '%s' overlap (data of the first ends at %llu, the "
                           "second starts at %llu)",
                           c->what, dlor_zip_quote(a->name, a->name_len, c->nm, sizeof c->nm),
                           dlor_zip_quote(b->name, b->name_len, bn, sizeof bn),
                           (unsigned long long)a->data_end,
                           (unsigned long long)b->header_offset);
        }
    }
    free(v);
    return st;
}

/* Reads the end record (and the zip64 one) into count / cd_off / cd_size;
 * *cd_limit is where the central directory must end. */
static dlor_status read_end(const unsigned char *buf, size_t len, const char *what, uint64_t *count,
                            uint64_t *cd_off, uint64_t *cd_size, uint64_t *cd_limit, dlor_error *err)
{
    size_t eocd = 0;
    dlor_status st = find_eocd(buf, len, what, &eocd, err);
    if (st != DLOR_OK) return st;
    const unsigned char *r = buf + eocd;
    unsigned disk = dlor_load_u16(r + 4), cd_disk = dlor_load_u16(r + 6);
    unsigned n_disk = dlor_load_u16(r + 8), n_total = dlor_load_u16(r + 10);
    uint32_t size32 = dlor_load_u32(r + 12), off32 = dlor_load_u32(r + 16);
    int saturated = disk == SAT16 || cd_disk == SAT16 || n_disk == SAT16 || n_total == SAT16 ||
                    size32 == SAT32 || off32 == SAT32;
    int has_locator = eocd >= LOCATOR64_SIZE &&
                      dlor_load_u32(buf + eocd - LOCATOR64_SIZE) == SIG_LOCATOR64;
    if (!has_locator) {
        if (saturated)
            return dlor_fail(err, DLOR_E_FORMAT,
                             "%s: end-of-central-directory fields are saturated (0xFFFF/0xFFFFFFFF) "
                             "but there is no zip64 locator",
                             what);
        if (disk != 0 || cd_disk != 0 || n_disk != n_total)
            return dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                             what);
        *count = n_total;
        *cd_size = size32;
        *cd_off = off32;
        *cd_limit = eocd;
        return DLOR_OK;
    }
    size_t loc = eocd - LOCATOR64_SIZE;
    const unsigned char *l = buf + loc;
    uint32_t rec_disk = dlor_load_u32(l + 4), ndisks = dlor_load_u32(l + 16);
    uint64_t rec_off = dlor_load_u64(l + 8);
    if (rec_off > loc || loc - rec_off < EOCD64_MIN)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: zip64 end-of-central-directory locator points outside the file "
                         "(offset %llu; the record must end before the locator at %zu, file is %zu "
                         "bytes)",
                         what, (unsigned long long)rec_off, loc, len);
    if (rec_disk != 0 || ndisks > 1)
        return dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                         what);
    const unsigned char *z = buf + rec_off;
    if (dlor_load_u32(z) != SIG_EOCD64)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: no zip64 end-of-central-directory record at offset %llu", what,
                         (unsigned long long)rec_off);
    uint64_t rec_size = dlor_load_u64(z + 4);
    if (rec_size < EOCD64_MIN - 12 || rec_size > loc - rec_off - 12)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: zip64 end-of-central-directory record size %llu does not fit before "
                         "the locator",
                         what, (unsigned long long)rec_size);
    uint32_t disk64 = dlor_load_u32(z + 16), cd_disk64 = dlor_load_u32(z + 20);
    uint64_t n_disk64 = dlor_load_u64(z + 24), n_total64 = dlor_load_u64(z + 32);
    uint64_t size64 = dlor_load_u64(z + 40), off64 = dlor_load_u64(z + 48);
    if (disk64 != 0 || cd_disk64 != 0 || n_disk64 != n_total64)
        return dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                         what);
    /* unsaturated 32-bit fields must agree with the zip64 record */
    if ((n_total != SAT16 && n_total != n_total64) || (size32 != SAT32 && size32 != size64) ||
        (off32 != SAT32 && off32 != off64))
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: end-of-central-directory record and zip64 record disagree (%u/%llu "
                         "entries, size %u/%llu, offset %u/%llu)",
                         what, n_total, (unsigned long long)n_total64, (unsigned)size32,
                         (unsigned long long)size64, (unsigned)off32, (unsigned long long)off64);
    *count = n_total64;
    *cd_size = size64;
    *cd_off = off64;
    *cd_limit = rec_off;
    return DLOR_OK;
}

void dlor_zip_close(dlor_zip *z)
{
    if (!z) return;
    free(z->entries);
    memset(z, 0, sizeof *z);
}

dlor_status dlor_zip_open(dlor_zip *z, const unsigned char *buf, size_t len, const char *what,
                          dlor_error *err)
{
    memset(z, 0, sizeof *z);
    uint64_t count = 0, cd_off = 0, cd_size = 0, cd_limit = 0;
    dlor_status st = read_end(buf, len, what, &count, &cd_off, &cd_size, &cd_limit, err);
    if (st != DLOR_OK) return st;
    if (cd_off > cd_limit || cd_size != cd_limit - cd_off)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: central directory (offset %llu, %llu bytes) does not end where the end "
                         "record begins (%llu)",
                         what, (unsigned long long)cd_off, (unsigned long long)cd_size,
                         (unsigned long long)cd_limit);
    if (count > cd_size / CENTRAL_SIZE)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: end record claims %llu entries but the central directory of %llu "
                         "bytes holds at most %llu",
                         what, (unsigned long long)count, (unsigned long long)cd_size,
                         (unsigned long long)(cd_size / CENTRAL_SIZE));
    if (count > DLOR_ZIP_MAX_ENTRIES)
        return dlor_fail(err, DLOR_E_LIMIT, "%s: %llu zip entries exceed the limit of %u", what,
                         (unsigned long long)count, DLOR_ZIP_MAX_ENTRIES);
    dlor_zip_entry *ents = calloc(count ? (size_t)count : 1, sizeof *ents);
    if (!ents) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    zctx c;
    c.what = what;
    c.nm[0] = 0;
    c.err = err;
    size_t pos = (size_t)cd_off, end = (size_t)cd_limit;
    for (size_t i = 0; i < count && st == DLOR_OK; i++) {
        size_t used = 0;
        st = parse_central(&c, buf + pos, end - pos, i, &ents[i], &used);
        if (st == DLOR_OK) st = check_local(&c, buf, len, cd_off, &ents[i]);
        if (st == DLOR_OK) pos += used;
    }
    if (st == DLOR_OK && pos != end)
        st = dlor_fail(err, DLOR_E_FORMAT,
                       "%s: central directory has %zu bytes after its last entry (the end record "
                       "claims %llu entries)",
                       what, end - pos, (unsigned long long)count);
    if (st == DLOR_OK) st = check_set(&c, ents, (size_t)count);
    if (st != DLOR_OK) {
        free(ents);
        return st;
    }
    z->buf = buf;
    z->len = len;
    z->entries = ents;
    z->count = (size_t)count;
    return DLOR_OK;
}

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* Inflates a raw deflate stream into exactly usize bytes. The buffer grows
 * with the output actually produced, so a false size claim costs nothing. */
static dlor_status inflate_member(zctx *c, const unsigned char *src, uint64_t csize, size_t usize,
                                  unsigned char **outp)
{
    if (usize / DEFLATE_MAX_RATIO > csize)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: member '%s' declares %zu uncompressed bytes from %llu compressed "
                         "bytes, beyond deflate's 1032:1 limit (zip bomb?)",
                         c->what, c->nm, usize, (unsigned long long)csize);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK)
        return dlor_fail(c->err, DLOR_E_NOMEM, "%s: member '%s': cannot initialise zlib", c->what,
                         c->nm);
    size_t cap = usize < ((size_t)1 << 20) ? usize : ((size_t)1 << 20), have = 0;
    unsigned char *out = malloc(cap ? cap : 1), spill;
    uint64_t in_left = csize;
    dlor_status st = DLOR_OK;
    if (!out) st = dlor_fail(c->err, DLOR_E_NOMEM, "%s: member '%s': out of memory", c->what, c->nm);
    while (st == DLOR_OK) {
        if (s.avail_in == 0 && in_left > 0) {
            uInt k = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            s.next_in = src;
            s.avail_in = k;
            src += k;
            in_left -= k;
        }
        if (have == cap && cap < usize) {
            size_t ncap = cap > usize / 2 ? usize : cap * 2;
            unsigned char *n = realloc(out, ncap);
            if (!n) {
                st = dlor_fail(c->err, DLOR_E_NOMEM, "%s: member '%s': out of memory (%zu bytes)",
                               c->what, c->nm, ncap);
                break;
            }
            out = n;
            cap = ncap;
        }
        /* once the declared size is reached, any further output is an error */
        int full = have == cap;
        if (full) {
            s.next_out = &spill;
            s.avail_out = 1;
        } else {
            s.next_out = out + have;
            s.avail_out = cap - have > (1u << 30) ? (1u << 30) : (uInt)(cap - have);
        }
        uInt room = s.avail_out;
        int ret = inflate(&s, Z_NO_FLUSH);
        size_t got = room - s.avail_out;
        if (full && got) {
            st = dlor_fail(c->err, DLOR_E_FORMAT,
                           "%s: member '%s' inflates to more than its declared %zu bytes (zip bomb?)",
                           c->what, c->nm, usize);
            break;
        }
        have += got;
        if (ret == Z_STREAM_END) break;
        if (ret == Z_OK) continue;
        if (ret == Z_BUF_ERROR && s.avail_in == 0 && in_left == 0)
            st = dlor_fail(c->err, DLOR_E_FORMAT,
                           "%s: member '%s': deflate stream is truncated (%zu of %zu bytes inflated)",
                           c->what, c->nm, have, usize);
        else if (ret == Z_MEM_ERROR)
            st = dlor_fail(c->err, DLOR_E_NOMEM, "%s: member '%s': out of memory in zlib", c->what,
                           c->nm);
        else
            st = dlor_fail(c->err, DLOR_E_FORMAT, "%s: member '%s': corrupt deflate data (%s)",
                           c->what, c->nm, s.msg ? s.msg : "no progress");
    }
    if (st == DLOR_OK && have != usize)
        st = dlor_fail(c->err, DLOR_E_FORMAT,
                       "%s: member '%s' inflates to %zu bytes, central directory says %zu", c->what,
                       c->nm, have, usize);
    if (st == DLOR_OK && (s.avail_in > 0 || in_left > 0))
        st = dlor_fail(c->err, DLOR_E_FORMAT,
                       "%s: member '%s': %llu bytes of compressed data follow the end of the "
                       "deflate stream",
                       c->what, c->nm, (unsigned long long)(s.avail_in + in_left));
    inflateEnd(&s);
    if (st != DLOR_OK) {
        free(out);
        return st;
    }
    *outp = out;
    return DLOR_OK;
}

dlor_status dlor_zip_extract(const dlor_zip *z, size_t i, const char *what, uint64_t max_out,
                             const unsigned char **data, size_t *size, unsigned char **block,
                             dlor_error *err)
{
    const dlor_zip_entry *e = &z->entries[i];
    zctx c;
    c.what = what;
    c.err = err;
    dlor_zip_quote(e->name, e->name_len, c.nm, sizeof c.nm);
    if (e->usize > max_out || e->usize > SIZE_MAX)
        return dlor_fail(err, DLOR_E_LIMIT,
                         "%s: member '%s' declares %llu uncompressed bytes, over the %llu-byte limit",
                         what, c.nm, (unsigned long long)e->usize, (unsigned long long)max_out);
    const unsigned char *src = z->buf + e->data_offset, *out = src;
    unsigned char *blk = NULL;
    if (e->method == 8) {
        dlor_status st = inflate_member(&c, src, e->csize, (size_t)e->usize, &blk);
        if (st != DLOR_OK) return st;
        out = blk;
    }
    uint32_t crc = crc_of(out, (size_t)e->usize);
    if (crc != e->crc) {
        free(blk);
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: member '%s': CRC-32 is 0x%08x, central directory says 0x%08x", what,
                         c.nm, (unsigned)crc, (unsigned)e->crc);
    }
    *data = out;
    *size = (size_t)e->usize;
    *block = blk;
    return DLOR_OK;
}
