/* hooks.c - how a conversion tells its progress and hears a request to stop. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "convert.h"

/* line is the caller's code too, and lines come from the worker threads: one at a time. */
static pthread_mutex_t line_lock = PTHREAD_MUTEX_INITIALIZER;

void dlor_hooks_line(const dlor_convert_hooks *h, int kind, const char *fmt, ...)
{
    if (!h || !h->line) return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&line_lock);
    h->line(h->ctx, kind, text);
    pthread_mutex_unlock(&line_lock);
}

/* poll is the caller's code, called from the worker threads: one at a time. */
static pthread_mutex_t poll_lock = PTHREAD_MUTEX_INITIALIZER;

dlor_status dlor_hooks_poll(const dlor_convert_hooks *h, size_t done, size_t total, const char *layer,
                            dlor_error *err)
{
    if (!h || !h->poll) return DLOR_OK;
    pthread_mutex_lock(&poll_lock);
    int stop = h->poll(h->ctx, done, total, layer);
    pthread_mutex_unlock(&poll_lock);
    if (stop) return dlor_fail(err, DLOR_E_STOPPED, "stopped before layer '%s' (%zu of %zu done)", layer, done, total);
    return DLOR_OK;
}
