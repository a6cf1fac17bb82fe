/* filemap.c - read-only memory maps of whole files (POSIX mmap). */
#define _POSIX_C_SOURCE 200809L
#include "dlor_fileio.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

dlor_status dlor_file_map(const char *path, size_t max_bytes, dlor_mapped_file *m, dlor_error *err)
{
    static const unsigned char empty[1] = {0};
    memset(m, 0, sizeof *m);
    size_t n;
    int fd;
    dlor_status st = dlor_file_open_read(path, max_bytes, &fd, &n, err);
    if (st != DLOR_OK) return st;
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
