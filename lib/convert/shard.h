/* shard.h - splitting a conversion into N parts (convert --shard I/N) and
 * joining them (dlor merge). */
#ifndef DLOR_SHARD_H
#define DLOR_SHARD_H

#include <stdint.h>

#include <stddef.h>

#include "dlor_container.h"
#include "dlor_error.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"

/* Parses "I/N" (0 <= I < N <= 65536). Returns 0, or -1 when malformed. */
int dlor_shard_parse(const char *s, int64_t *index, int64_t *count);

/* owner[i] = the shard (0..count-1) converting src->items[i] when selected[i],
 * else -1: a balanced, deterministic assignment by estimated work (exact_mul:
 * cubic in the padded size). */
void dlor_shard_assign(const dlor_tensor_list *src, const int *selected, int exact_mul, int64_t count,
                       int64_t *owner);

/* Sorts a comma-separated list of names in place (byte order). */
dlor_status dlor_sort_name_list(char *list, dlor_error *err);

/* dlor merge: the parts (.dlor files written by convert --shard I/N, all N of
 * them, in any order) joined into the container one conversion would have
 * made, merged, which points into the parts: both live in m until
 * dlor_merged_free. Refuses parts of different sources, options or shard
 * counts, missing or repeated shards, and layers claimed twice. On failure m
 * holds nothing. */
typedef struct dlor_merged {
    dlor_container *parts;
    size_t nparts;
    dlor_container merged;
} dlor_merged;
dlor_status dlor_merge_files(const char *const *paths, size_t np, dlor_merged *m, dlor_error *err);
void dlor_merged_free(dlor_merged *m);

#endif
