/* filemap.c - read-only memory maps of whole files (POSIX mmap). */
#define _POSIX_C_SOURCE 200809L
#include "dlor_fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

dlor_status dlor_file_map(const char *path, size_t max_bytes, dlor_mapped_file *m, dlor_error *err)
{
    static const unsigned char empty[1] = {0};
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return dlor_fail(err, DLOR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dlor_fail(err, DLOR_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dlor_fail(err, DLOR_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        return dlor_fail(err, DLOR_E_LIMIT, "%s: file of %lld bytes exceeds the %zu-byte limit", path,
                         (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    if (n == 0) { /* mmap cannot map nothing */
        close(fd);
        m->data = empty;
        return DLOR_OK;
    }
    /* Plain 4 KiB mappings. Asking for huge pages (MADV_HUGEPAGE; the kernel
     * then maps 2 MiB folios of the page cache when it has them) was tried on
     * the machine of BENCHMARKS.md: no steady change for a 25 MB .dlor file at
     * batch 1 (alternated dlor bench runs, +-15% run to run), while giving the
     * dense baseline's weights huge pages made it faster; not kept. */
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file */
    if (p == MAP_FAILED) return dlor_fail(err, DLOR_E_IO, "%s: cannot map: %s", path, strerror(e));
    m->data = p;
    m->len = n;
    m->base = p;
    return DLOR_OK;
}

void dlor_file_unmap(dlor_mapped_file *m)
{
    if (m && m->base) munmap(m->base, m->len);
    if (m) memset(m, 0, sizeof *m);
}
