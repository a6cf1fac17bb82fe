/* testrun.c - running the dlor binary from a C test (see testrun.h). */
#define _POSIX_C_SOURCE 200809L
#include "testrun.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/read_all.h"


int dlt_run(const char *const *args, unsigned long long fsize, unsigned long long as, char *err, size_t errn)
{
    const char *bin = getenv("DLOR_BIN");
    int n = 0, fds[2];
    if (!bin || !*bin) return -1;
    while (args[n]) n++;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    if (!argv) return -1;
    argv[0] = (char *)bin;
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
    /* stderr through a pipe: a file-size limit must not stop the message */
    if (pipe(fds) != 0) {
        free(argv);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int fo = open("/dev/null", O_WRONLY);
        if (fo < 0) _exit(126);
        dup2(fo, 1);
        dup2(fds[1], 2);
        close(fds[0]);
        if (fsize) {
            struct rlimit r = {(rlim_t)fsize, (rlim_t)fsize};
            signal(SIGXFSZ, SIG_IGN);
            if (setrlimit(RLIMIT_FSIZE, &r) != 0) _exit(126);
        }
        if (as) {
            struct rlimit r = {(rlim_t)as, (rlim_t)as};
            if (setrlimit(RLIMIT_AS, &r) != 0) _exit(126);
        }
        execv(bin, argv);
        _exit(127);
    }
    free(argv);
    close(fds[1]);
    size_t got = 0;
    char chunk[4096];
    ssize_t r;
    while ((r = read(fds[0], chunk, sizeof chunk)) != 0) {
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        size_t k = (size_t)r;
        if (err && errn && got < errn - 1) {
            size_t room = errn - 1 - got;
            memcpy(err + got, chunk, k < room ? k : room);
            got += k < room ? k : room;
        }
    }
    close(fds[0]);
    if (err && errn) err[got] = 0;
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

const char *dlt_source_path(char *buf, size_t n, const char *rel)
{
    const char *src = getenv("DLOR_SOURCE_DIR");
    snprintf(buf, n, "%s/%s", src && *src ? src : ".", rel);
    return buf;
}

unsigned char *dlt_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t len;
    unsigned char *b = read_all(f, &len);
    fclose(f);
    if (b) *n = len;
    return b;
}
