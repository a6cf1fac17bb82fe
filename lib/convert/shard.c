/* shard.c - convert --shard I/N and dlor merge: a conversion split across
 * processes or machines, joined into the file one process would have written.
 *
 * A part is a .dlor container holding the layers its shard converted (shard 0
 * also holds every tensor that is not converted), the conversion's metadata,
 * and instead of a GRAPH section (whose weights live in several parts) the
 * graph as text in dlor.shard_graph. Merge checks that the parts belong
 * together, takes their union, and finishes the file exactly as convert does. */
#define _POSIX_C_SOURCE 200809L
#include "shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "dlor_container.h"
#include "dlor_fileio.h"
#include "numparse.h"

int dlor_shard_parse(const char *s, int64_t *index, int64_t *count)
{
    uint64_t i, n;
    char a[32], b[32];
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || (size_t)(slash - s) >= sizeof a || strlen(slash + 1) >= sizeof b) return -1;
    memcpy(a, s, (size_t)(slash - s));
    a[slash - s] = 0;
    strcpy(b, slash + 1);
    if (dlor_parse_u64(a, &i) != 0 || dlor_parse_u64(b, &n) != 0 || n < 1 || n > 65536 || i >= n) return -1;
    *index = (int64_t)i;
    *count = (int64_t)n;
    return 0;
}

/* Work estimate of converting one m x n layer: the dense factorizations are
 * cubic in the padded size (mul) or in the smaller side times the area (SVD). */
static double layer_cost(const dlor_tensor *t, int exact_mul)
{
    double m = (double)t->dims[0], n = (double)t->dims[1], d = m > n ? m : n, s = m < n ? m : n;
    return exact_mul ? d * d * d : m * n * s;
}

void dlor_shard_assign(const dlor_tensor_list *src, const int *selected, int exact_mul, int64_t count,
                       int64_t *owner)
{
    /* Longest processing time first: layers by falling cost (ties by name), each to
     * the least loaded shard (ties to the lowest index). Depends only on the shapes
     * and names, so every process computes the same assignment. */
    size_t n = src->count, m = 0;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    double *load = calloc((size_t)count, sizeof *load);
    for (size_t i = 0; i < n; i++) owner[i] = -1;
    if (!idx || !load) { /* fall back to round robin (still deterministic) */
        int64_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (selected[i]) owner[i] = k++ % count;
        free(idx);
        free(load);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (selected[i]) idx[m++] = i;
    for (size_t a = 1; a < m; a++) { /* insertion sort: stable, and layer counts are modest */
        size_t v = idx[a], b = a;
        double cv = layer_cost(&src->items[v], exact_mul);
        while (b > 0) {
            const dlor_tensor *u = &src->items[idx[b - 1]];
            double cu = layer_cost(u, exact_mul);
            if (cu > cv || (cu == cv && strcmp(u->name, src->items[v].name) < 0)) break;
            idx[b] = idx[b - 1];
            b--;
        }
        idx[b] = v;
    }
    for (size_t a = 0; a < m; a++) {
        int64_t best = 0;
        for (int64_t k = 1; k < count; k++)
            if (load[k] < load[best]) best = k;
        owner[idx[a]] = best;
        load[best] += layer_cost(&src->items[idx[a]], exact_mul);
    }
    free(idx);
    free(load);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

dlor_status dlor_sort_name_list(char *list, dlor_error *err)
{
    size_t n = 0, len = strlen(list);
    if (!len) return DLOR_OK;
    for (size_t i = 0; i < len; i++) n += list[i] == ',';
    n++;
    char **names = malloc(n * sizeof *names), *copy = malloc(len + 1);
    if (!names || !copy) {
        free(names);
        free(copy);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    memcpy(copy, list, len + 1);
    size_t k = 0;
    for (char *p = copy;;) {
        names[k++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    qsort(names, k, sizeof *names, cmp_str);
    size_t at = 0;
    for (size_t i = 0; i < k; i++) at += (size_t)sprintf(list + at, "%s%s", i ? "," : "", names[i]);
    free(names);
    free(copy);
    return DLOR_OK;
}

/* ---- dlor merge ------------------------------------------------------------------------ */

/* Name lists each part records for its own layers; the merged file holds their
 * union, sorted as a single conversion sorts it. */
static const char *const part_lists[] = {"dlor.kept_dense", "dlor.rank_capped"};
#define NPART_LISTS (sizeof part_lists / sizeof part_lists[0])

static int is_shard_key(const char *k)
{
    for (size_t i = 0; i < NPART_LISTS; i++)
        if (strcmp(k, part_lists[i]) == 0) return 1;
    return strncmp(k, "dlor.shard", 10) == 0;
}

/* Every metadata record outside the shard's own must agree between parts. */
static dlor_status same_conversion(const dlor_container *a, const char *an, const dlor_container *b,
                                   const char *bn, dlor_error *err)
{
    for (int pass = 0; pass < 2; pass++) {
        const dlor_tensor_list *x = pass ? &b->tensors : &a->tensors, *y = pass ? &a->tensors : &b->tensors;
        for (size_t i = 0; i < x->meta_count; i++) {
            if (is_shard_key(x->meta_keys[i])) continue;
            const char *v = dlor_tensor_list_meta(y, x->meta_keys[i]);
            if (!v || strcmp(v, x->meta_vals[i]) != 0)
                return dlor_fail(err, DLOR_E_FORMAT, "%s and %s come from different conversions (metadata '%s' %s)",
                                 an, bn, x->meta_keys[i], v ? "differs" : "is missing from one");
        }
    }
    return DLOR_OK;
}

static dlor_status merge_parts(const char *const *paths, size_t np, dlor_container *parts, dlor_container *out,
                               char *lists_out[NPART_LISTS], dlor_error *err)
{
    int64_t count = -1;
    const char **by_index = NULL;
    size_t list_len[NPART_LISTS];
    for (size_t l = 0; l < NPART_LISTS; l++) list_len[l] = 1;
    dlor_status st = DLOR_OK;
    for (size_t p = 0; p < np && st == DLOR_OK; p++) {
        st = dlor_container_read(paths[p], &parts[p], err);
        if (st != DLOR_OK) break;
        const char *sh = dlor_tensor_list_meta(&parts[p].tensors, "dlor.shard");
        int64_t i, n;
        if (!sh || dlor_shard_parse(sh, &i, &n) != 0) {
            st = dlor_fail(err, DLOR_E_FORMAT, "%s is not a part written by 'dlor convert --shard' (no dlor.shard)",
                           paths[p]);
            break;
        }
        if (count < 0) {
            count = n;
            if ((size_t)n != np) {
                st = dlor_fail(err, DLOR_E_ARG, "%s is shard %s: the conversion has %lld parts, %zu were given",
                               paths[p], sh, (long long)n, np);
                break;
            }
            by_index = calloc((size_t)n, sizeof *by_index);
            if (!by_index) {
                st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
                break;
            }
        } else if (n != count) {
            st = dlor_fail(err, DLOR_E_FORMAT, "%s is shard %s, but %s has %lld shards", paths[p], sh, paths[0],
                           (long long)count);
            break;
        }
        if (by_index[i]) {
            st = dlor_fail(err, DLOR_E_ARG, "%s and %s are both shard %s", by_index[i], paths[p], sh);
            break;
        }
        by_index[i] = paths[p];
        if (p > 0) st = same_conversion(&parts[0], paths[0], &parts[p], paths[p], err);
        for (size_t l = 0; l < NPART_LISTS; l++) {
            const char *k = dlor_tensor_list_meta(&parts[p].tensors, part_lists[l]);
            if (k) list_len[l] += strlen(k) + 1;
        }
    }
    free(by_index);
    if (st != DLOR_OK) return st;

    /* the union: metadata from any part (shard records dropped), every tensor and
     * layer exactly once */
    const dlor_tensor_list *m0 = &parts[0].tensors;
    for (size_t i = 0; i < m0->meta_count && st == DLOR_OK; i++)
        if (!is_shard_key(m0->meta_keys[i]))
            st = dlor_tensor_list_add_meta(&out->tensors, m0->meta_keys[i], m0->meta_vals[i], err);
    for (size_t p = 0; p < np && st == DLOR_OK; p++) {
        const dlor_tensor_list *t = &parts[p].tensors;
        for (size_t i = 0; i < t->count && st == DLOR_OK; i++) {
            const dlor_tensor *x = &t->items[i];
            if (dlor_tensor_list_find(&out->tensors, x->name)) {
                st = dlor_fail(err, DLOR_E_FORMAT, "%s: tensor '%s' is also in another part", paths[p], x->name);
                break;
            }
            st = dlor_tensor_list_add(&out->tensors, paths[p], x->name, strlen(x->name), x->dtype, x->ndim, x->dims,
                                      x->data, x->nbytes, err);
        }
        for (size_t i = 0; i < parts[p].nlayers && st == DLOR_OK; i++)
            st = dlor_container_add_layer(out, &parts[p].layers[i], err);
    }
    for (size_t l = 0; l < NPART_LISTS && st == DLOR_OK; l++) {
        char *list = calloc(list_len[l], 1);
        if (!list) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        for (size_t p = 0; p < np && st == DLOR_OK; p++) {
            const char *k = dlor_tensor_list_meta(&parts[p].tensors, part_lists[l]);
            if (k && *k) {
                if (*list) strcat(list, ",");
                strcat(list, k);
            }
        }
        if (st == DLOR_OK) st = dlor_sort_name_list(list, err);
        lists_out[l] = list;
    }
    if (st != DLOR_OK) return st;
    const char *gtext = dlor_tensor_list_meta(m0, "dlor.shard_graph");
    if (gtext && *gtext) st = dlor_graph_parse(gtext, &out->graph, err);
    return st;
}

dlor_status dlor_merge_files(const char *const *paths, size_t np, dlor_merged *m, dlor_error *err)
{
    char *lists[NPART_LISTS] = {NULL};
    m->parts = np ? calloc(np, sizeof *m->parts) : NULL;
    m->nparts = 0;
    dlor_container_init(&m->merged);
    if (!m->parts) return dlor_fail(err, np ? DLOR_E_NOMEM : DLOR_E_ARG, np ? "out of memory" : "no parts to merge");
    m->nparts = np;
    for (size_t p = 0; p < np; p++) dlor_container_init(&m->parts[p]);
    dlor_status st = merge_parts(paths, np, m->parts, &m->merged, lists, err);
    for (size_t l = 0; l < NPART_LISTS && st == DLOR_OK; l++)
        if (*lists[l]) st = dlor_tensor_list_add_meta(&m->merged.tensors, part_lists[l], lists[l], err);
    if (st == DLOR_OK) {
        const char *gs = dlor_tensor_list_meta(&m->parts[0].tensors, "dlor.shard_graph_source");
        const char *why = dlor_tensor_list_meta(&m->parts[0].tensors, "dlor.shard_graph_missing");
        st = dlor_convert_graph_metadata(&m->merged, gs, why ? why : "", err);
    }
    for (size_t l = 0; l < NPART_LISTS; l++) free(lists[l]);
    if (st != DLOR_OK) dlor_merged_free(m);
    return st;
}

void dlor_merged_free(dlor_merged *m)
{
    if (!m) return;
    dlor_container_free(&m->merged);
    for (size_t p = 0; p < m->nparts; p++) dlor_container_free(&m->parts[p]);
    free(m->parts);
    m->parts = NULL;
    m->nparts = 0;
}
