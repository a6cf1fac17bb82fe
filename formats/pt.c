/* pt.c - PyTorch state dicts saved by torch.save (zip format, torch >= 1.6).
 *
 * Archive: every member lives under one folder, taken from the first member
 * as torch does; "<folder>/data.pkl" is the pickle, "<folder>/data/<key>" the
 * raw storages (stored or deflated, any alignment), "<folder>/byteorder" if
 * present must say "little". Other members (version, .format_version, ...)
 * are not read. A TorchScript archive (constants.pkl) is refused.
 *
 * What is returned: the top-level object must be a dict. Its tensors are
 * named by their keys; nested dicts are flattened with "." (a checkpoint's
 * {"model": {"fc.weight": t}} gives "model.fc.weight"; int keys, as in an
 * optimizer's state, are written in decimal). Values that hold no tensor
 * (numbers, strings, None, lists of numbers, empty dicts) are ignored. A
 * tensor anywhere else (in a list or tuple, under a float/tuple key, a bare
 * storage) is an error, so no weight is ever dropped silently; so is a dict
 * that contains itself.
 *
 * Views: contiguous C-order views point into the storage record; others
 * (transposed, sliced with steps, broadcast) are copied into C order. Tied
 * weights (names sharing a storage or a tensor) all appear, and one tensor
 * reached under two names is copied once. Copies are capped at twice the
 * archive size plus PT_COPY_SLACK bytes, which only a view that repeats its
 * elements (stride 0) can approach. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_json.h"
#include "dlor_pickle.h"
#include "dlor_readers.h"
#include "dlor_zip.h"

#define PT_MAX_DEPTH 32
#define PT_MAX_VISITS (1u << 24)
#define PT_COPY_SLACK ((uint64_t)64 << 20)

typedef struct {
    const unsigned char *name;
    size_t len, idx;
} pt_name;

typedef struct {
    int loaded;
    dlor_dtype dtype;
    int64_t numel;
    const unsigned char *data;
} pt_record;

typedef struct {
    const char *what;
    dlor_error *err;
    dlor_tensor_list *out;
    dlor_zip z;
    const unsigned char *prefix;
    size_t prefix_len;
    pt_name *by_name;             /* members sorted by name */
    pt_record *recs;              /* per entry */
    dlor_pkl pk;
    const unsigned char **views;  /* per pickle tensor: its C-order copy, once made */
    uint64_t inflated, copied, copy_budget;
    size_t visits;
    char name[DLOR_MAX_NAME + 1];
} pt_ctx;

static int cmp_name(const void *a, const void *b)
{
    const pt_name *x = a, *y = b;
    int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Compares a member name with "<prefix>/<a><b>" without building the latter. */
static int cmp_key(const pt_name *e, const pt_ctx *c, const char *a, const unsigned char *b,
                   size_t bn)
{
    const unsigned char *part[4] = {c->prefix, (const unsigned char *)"/",
                                    (const unsigned char *)a, b};
    size_t plen[4] = {c->prefix_len, 1, strlen(a), bn}, pos = 0;
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < plen[k]; i++, pos++) {
            if (pos == e->len) return -1;
            if (e->name[pos] != part[k][i]) return e->name[pos] < part[k][i] ? -1 : 1;
        }
    return pos < e->len;
}

/* Index of member "<prefix>/<a><b>", or -1. */
static long find(const pt_ctx *c, const char *a, const unsigned char *b, size_t bn)
{
    size_t lo = 0, hi = c->z.count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = cmp_key(&c->by_name[mid], c, a, b, bn);
        if (r == 0) return (long)c->by_name[mid].idx;
        if (r < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static const char *prefix_q(const pt_ctx *c, char *buf, size_t n)
{
    return dlor_zip_quote(c->prefix, c->prefix_len, buf, n);
}

/* Extracts member i; a deflated one is inflated into a block the list owns,
 * or that *tmp receives when tmp is non-NULL. */
static dlor_status extract(pt_ctx *c, size_t i, uint64_t max_out, const unsigned char **data,
                           size_t *size, unsigned char **tmp)
{
    unsigned char *block;
    if (max_out > DLOR_MAX_INPUT_BYTES - c->inflated) max_out = DLOR_MAX_INPUT_BYTES - c->inflated;
    dlor_status st = dlor_zip_extract(&c->z, i, c->what, max_out, data, size, &block, c->err);
    if (st != DLOR_OK || !block) return st;
    c->inflated += *size;
    if (tmp) {
        *tmp = block;
        return DLOR_OK;
    }
    return dlor_tensor_list_own(c->out, block, c->err);
}

static dlor_status check_archive(pt_ctx *c)
{
    char q[200], p[200];
    if (c->z.count == 0)
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: the archive is empty", c->what);
    const dlor_zip_entry *e0 = &c->z.entries[0];
    const unsigned char *slash = memchr(e0->name, '/', e0->name_len);
    if (!slash || slash == e0->name)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: first member '%s' is not inside a folder (torch.save puts every "
                         "record under '<name>/')",
                         c->what, dlor_zip_quote(e0->name, e0->name_len, q, sizeof q));
    c->prefix = e0->name;
    c->prefix_len = (size_t)(slash - e0->name);
    for (size_t i = 0; i < c->z.count; i++) {
        const dlor_zip_entry *e = &c->z.entries[i];
        if (e->name_len < c->prefix_len + 1 || e->name[c->prefix_len] != '/' ||
            memcmp(e->name, c->prefix, c->prefix_len) != 0)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: member '%s' is outside the archive folder '%s' (taken from the "
                             "first member; mixed folders are not a torch.save archive)",
                             c->what, dlor_zip_quote(e->name, e->name_len, q, sizeof q),
                             prefix_q(c, p, sizeof p));
    }
    c->by_name = malloc(c->z.count * sizeof *c->by_name);
    c->recs = calloc(c->z.count, sizeof *c->recs);
    if (!c->by_name || !c->recs)
        return dlor_fail(c->err, DLOR_E_NOMEM, "%s: out of memory", c->what);
    for (size_t i = 0; i < c->z.count; i++) {
        c->by_name[i].name = c->z.entries[i].name;
        c->by_name[i].len = c->z.entries[i].name_len;
        c->by_name[i].idx = i;
    }
    qsort(c->by_name, c->z.count, sizeof *c->by_name, cmp_name);
    if (find(c, "constants.pkl", NULL, 0) >= 0)
        return dlor_fail(c->err, DLOR_E_UNSUPPORTED,
                         "%s: this is a TorchScript archive (torch.jit.save); save the model's "
                         "state_dict() with torch.save instead",
                         c->what);
    long bo = find(c, "byteorder", NULL, 0);
    if (bo >= 0) {
        const unsigned char *d;
        size_t n;
        unsigned char *tmp = NULL;
        dlor_status st = extract(c, (size_t)bo, 64, &d, &n, &tmp);
        if (st != DLOR_OK) return st;
        int little = n == 6 && memcmp(d, "little", 6) == 0,
            big = n == 3 && memcmp(d, "big", 3) == 0;
        dlor_zip_quote(d, n, q, sizeof q);
        free(tmp);
        if (big)
            return dlor_fail(c->err, DLOR_E_UNSUPPORTED,
                             "%s: byteorder record says 'big': big-endian archives are not "
                             "supported (save on a little-endian machine)",
                             c->what);
        if (!little)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: byteorder record is '%s', not 'little' or 'big'", c->what, q);
    }
    return DLOR_OK;
}

/* Returns the bytes of storage s (extracted once per record). */
/* tq is the tensor's name, quoted for messages. */
static dlor_status storage_bytes(pt_ctx *c, const dlor_pkl_storage *s, const char *tq,
                                 const unsigned char **data)
{
    char kq[96], p[200];
    size_t es = dlor_dtype_size(s->dtype);
    dlor_zip_quote(s->key, s->key_len, kq, sizeof kq);
    long i = find(c, "data/", s->key, s->key_len);
    if (i < 0)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: tensor '%s': storage '%s' has no record '%s/data/%s' in the archive",
                         c->what, tq, kq, prefix_q(c, p, sizeof p), kq);
    pt_record *r = &c->recs[i];
    if (r->loaded) {
        if (r->dtype != s->dtype || r->numel != s->numel)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: tensor '%s': storage '%s' is declared as %lld %s elements and "
                             "elsewhere as %lld %s elements",
                             c->what, tq, kq, (long long)s->numel, dlor_dtype_name(s->dtype),
                             (long long)r->numel, dlor_dtype_name(r->dtype));
        *data = r->data;
        return DLOR_OK;
    }
    uint64_t want;
    if ((uint64_t)s->numel > UINT64_MAX / es)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: tensor '%s': storage '%s' of %lld %s elements overflows",
                         c->what, tq, kq, (long long)s->numel, dlor_dtype_name(s->dtype));
    want = (uint64_t)s->numel * es;
    const dlor_zip_entry *e = &c->z.entries[i];
    if (e->usize != want)
        return dlor_fail(c->err, DLOR_E_FORMAT,
                         "%s: tensor '%s': record '%s/data/%s' holds %llu bytes, but its storage "
                         "of %lld %s elements needs %llu",
                         c->what, tq, prefix_q(c, p, sizeof p), kq, (unsigned long long)e->usize,
                         (long long)s->numel, dlor_dtype_name(s->dtype), (unsigned long long)want);
    size_t n;
    dlor_status st = extract(c, (size_t)i, want, data, &n, NULL);
    if (st != DLOR_OK) return st;
    r->loaded = 1;
    r->dtype = s->dtype;
    r->numel = s->numel;
    r->data = *data;
    return DLOR_OK;
}

/* Copies a strided view (bounds already checked) into dst in C order. */
static void gather(unsigned char *dst, const unsigned char *base, size_t es, int ndim,
                   const uint64_t *size, const uint64_t *stride, uint64_t offset, uint64_t nelem)
{
    uint64_t idx[DLOR_MAX_NDIM] = {0}, src = offset;
    int last = ndim - 1;
    uint64_t run = size[last], rs = stride[last];
    for (uint64_t done = 0; done < nelem; done += run) {
        if (rs == 1) {
            memcpy(dst, base + src * es, run * es);
            dst += run * es;
        } else {
            for (uint64_t k = 0; k < run; k++, dst += es)
                memcpy(dst, base + (src + k * rs) * es, es);
        }
        for (int d = last - 1; d >= 0; d--) {
            src += stride[d];
            if (++idx[d] < size[d]) break;
            src -= size[d] * stride[d];
            idx[d] = 0;
        }
    }
}

/* *acc += a * b; -1 on overflow. */
static int add_mul(uint64_t *acc, uint64_t a, uint64_t b)
{
    if (b && a > UINT64_MAX / b) return -1;
    if (a * b > UINT64_MAX - *acc) return -1;
    *acc += a * b;
    return 0;
}

static dlor_status emit(pt_ctx *c, uint32_t tid, size_t nlen)
{
    const dlor_pkl_tensor *t = &c->pk.tensors[tid];
    const dlor_pkl_storage *s = &c->pk.storages[t->storage];
    char tq[300];
    const char *nm = c->name;
    dlor_zip_quote((const unsigned char *)nm, nlen, tq, sizeof tq);
    if (t->ndim > DLOR_MAX_NDIM)
        return dlor_fail(c->err, DLOR_E_LIMIT, "%s: tensor '%s' has %d dimensions (limit %d)",
                         c->what, tq, t->ndim, DLOR_MAX_NDIM);
    if (t->offset < 0)
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: tensor '%s': storage offset %lld is negative",
                         c->what, tq, (long long)t->offset);
    uint64_t size[DLOR_MAX_NDIM], stride[DLOR_MAX_NDIM];
    for (int d = 0; d < t->ndim; d++) {
        if (t->size[d] < 0 || t->stride[d] < 0)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: tensor '%s': negative %s %lld in dimension %d", c->what, tq,
                             t->size[d] < 0 ? "size" : "stride",
                             (long long)(t->size[d] < 0 ? t->size[d] : t->stride[d]), d);
        size[d] = (uint64_t)t->size[d];
        stride[d] = (uint64_t)t->stride[d];
    }
    uint64_t nelem, nbytes;
    char shp[200];
    dlor_shape_str(size, t->ndim, shp, sizeof shp);
    if (dlor_shape_nelem(size, t->ndim, &nelem) ||
        dlor_shape_nbytes(size, t->ndim, s->dtype, &nbytes) || nbytes > SIZE_MAX)
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: tensor '%s': shape %s overflows", c->what, tq,
                         shp);
    const unsigned char *base;
    dlor_status st = storage_bytes(c, s, tq, &base);
    if (st != DLOR_OK) return st;
    uint64_t off = (uint64_t)t->offset, numel = (uint64_t)s->numel, last = off;
    size_t es = dlor_dtype_size(s->dtype);
    if (nelem == 0) {
        if (off > numel)
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: tensor '%s': offset %llu is beyond its storage of %llu elements",
                             c->what, tq, (unsigned long long)off, (unsigned long long)numel);
        return dlor_tensor_list_add(c->out, c->what, nm, nlen, s->dtype, t->ndim, size, base,
                                    0, c->err);
    }
    int contiguous = 1;
    uint64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (add_mul(&last, size[d] - 1, stride[d]))
            return dlor_fail(c->err, DLOR_E_FORMAT,
                             "%s: tensor '%s': view %s at offset %llu overflows (stride %llu in "
                             "dimension %d)",
                             c->what, tq, shp, (unsigned long long)off,
                             (unsigned long long)stride[d], d);
        if (size[d] != 1 && stride[d] != expect) contiguous = 0;
        expect *= size[d]; /* <= nelem */
    }
    if (last >= numel)
        return dlor_fail(
            c->err, DLOR_E_FORMAT,
            "%s: tensor '%s': view %s at offset %llu reaches element %llu of a storage "
            "of %llu elements",
            c->what, tq, shp, (unsigned long long)off, (unsigned long long)last,
            (unsigned long long)numel);
    const unsigned char *data = base + off * es;
    if (!contiguous) {
        data = c->views[tid];
        if (!data) {
            if (nbytes > c->copy_budget - c->copied)
                return dlor_fail(c->err, DLOR_E_LIMIT,
                                 "%s: tensor '%s': copying the non-contiguous view %s (%llu bytes) "
                                 "would exceed the %llu-byte copy limit",
                                 c->what, tq, shp, (unsigned long long)nbytes,
                                 (unsigned long long)c->copy_budget);
            unsigned char *blk = malloc((size_t)nbytes);
            if (!blk)
                return dlor_fail(c->err, DLOR_E_NOMEM, "%s: tensor '%s': out of memory", c->what,
                                 tq);
            gather(blk, base, es, t->ndim, size, stride, off, nelem);
            if ((st = dlor_tensor_list_own(c->out, blk, c->err)) != DLOR_OK) return st;
            c->copied += nbytes;
            c->views[tid] = data = blk;
        }
    }
    return dlor_tensor_list_add(c->out, c->what, nm, nlen, s->dtype, t->ndim, size, data,
                                (size_t)nbytes, c->err);
}

static dlor_status too_much(pt_ctx *c)
{
    return dlor_fail(
        c->err, DLOR_E_LIMIT,
        "%s: walking the pickled objects took more than %u steps (shared nested dicts?)", c->what,
        PT_MAX_VISITS);
}

enum { PT_NO_WEIGHTS, PT_WEIGHTS, PT_TOO_DEEP };

/* Whether a tensor or storage is reachable from id. */
static int holds_weights(pt_ctx *c, uint32_t id, int depth)
{
    const dlor_pkl_obj *o = &c->pk.objs[id];
    if (o->kind == DLOR_PKL_TENSOR || o->kind == DLOR_PKL_STORAGE) return PT_WEIGHTS;
    if (o->kind != DLOR_PKL_DICT && o->kind != DLOR_PKL_LIST && o->kind != DLOR_PKL_TUPLE)
        return PT_NO_WEIGHTS;
    if (depth >= PT_MAX_DEPTH) return PT_TOO_DEEP;
    int dict = o->kind == DLOR_PKL_DICT, r = PT_NO_WEIGHTS;
    for (size_t i = 0; i < o->len && r == PT_NO_WEIGHTS && c->visits < PT_MAX_VISITS; i++) {
        c->visits++;
        r = holds_weights(c, o->u.items[dict ? 2 * i + 1 : i], depth + 1);
    }
    return r;
}

static dlor_status walk(pt_ctx *c, uint32_t id, size_t nlen, int depth)
{
    const dlor_pkl_obj *o = &c->pk.objs[id];
    char q[300];
    for (size_t i = 0; i < o->len; i++) {
        if (++c->visits > PT_MAX_VISITS) return too_much(c);
        const dlor_pkl_obj *k = &c->pk.objs[o->u.items[2 * i]];
        uint32_t vid = o->u.items[2 * i + 1];
        const dlor_pkl_obj *v = &c->pk.objs[vid];
        int hw = v->kind == DLOR_PKL_TENSOR ? PT_WEIGHTS : holds_weights(c, vid, depth + 1);
        if (c->visits >= PT_MAX_VISITS) return too_much(c);
        if (hw == PT_NO_WEIGHTS) continue;
        char where[310], num[32];
        if (nlen)
            snprintf(where, sizeof where, "'%s'",
                     dlor_zip_quote((const unsigned char *)c->name, nlen, q, sizeof q));
        else
            snprintf(where, sizeof where, "the top-level dict");
        const unsigned char *ks;
        size_t kl;
        if (k->kind == DLOR_PKL_STR) {
            size_t bad;
            ks = k->u.s;
            kl = k->len;
            if (!dlor_json_utf8_valid(ks, kl, &bad))
                return dlor_fail(c->err, DLOR_E_FORMAT,
                                 "%s: key of a tensor in %s is not valid UTF-8 (byte %zu)",
                                 c->what, where, bad);
        } else if (k->kind == DLOR_PKL_INT) {
            kl = (size_t)snprintf(num, sizeof num, "%lld", (long long)k->u.i);
            ks = (const unsigned char *)num;
        } else {
            return dlor_fail(c->err, DLOR_E_UNSUPPORTED,
                             "%s: tensors under %s key in %s (dlor names tensors by str or int "
                             "keys)",
                             c->what, dlor_pkl_kind_name(k->kind), where);
        }
        size_t sep = nlen ? 1 : 0;
        if (kl > DLOR_MAX_NAME || nlen + sep + kl > DLOR_MAX_NAME) {
            char kq[100];
            dlor_zip_quote((const unsigned char *)c->name, nlen, q, sizeof q);
            return dlor_fail(c->err, DLOR_E_LIMIT,
                             "%s: tensor name '%s%s%s' is longer than %d bytes", c->what, q,
                             sep ? "." : "", dlor_zip_quote(ks, kl, kq, sizeof kq), DLOR_MAX_NAME);
        }
        if (sep) c->name[nlen] = '.';
        memcpy(c->name + nlen + sep, ks, kl);
        size_t len = nlen + sep + kl;
        c->name[len] = 0;
        dlor_zip_quote((const unsigned char *)c->name, len, q, sizeof q);
        if (hw == PT_TOO_DEEP)
            return dlor_fail(c->err, DLOR_E_LIMIT,
                             "%s: objects nested more than %d deep under '%s' (or a container that "
                             "contains itself)",
                             c->what, PT_MAX_DEPTH, q);
        dlor_status st;
        if (v->kind == DLOR_PKL_TENSOR) {
            st = emit(c, v->u.idx, len);
        } else if (v->kind == DLOR_PKL_DICT) {
            st = walk(c, vid, len, depth + 1);
        } else {
            st = dlor_fail(c->err, DLOR_E_UNSUPPORTED,
                           "%s: '%s' is %s holding tensor data (dlor reads dicts of tensors, "
                           "nested dicts included)",
                           c->what, q, dlor_pkl_kind_name(v->kind));
        }
        if (st != DLOR_OK) return st;
    }
    return DLOR_OK;
}

static dlor_status pt_append(const unsigned char *buf, size_t len, const char *what,
                             dlor_tensor_list *out, dlor_error *err)
{
    pt_ctx *c = calloc(1, sizeof *c);
    if (!c) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    c->what = what;
    c->err = err;
    c->out = out;
    c->copy_budget = (uint64_t)len * 2 + PT_COPY_SLACK;
    unsigned char *pkl_block = NULL;
    char p[200];
    dlor_status st = dlor_zip_open(&c->z, buf, len, what, err);
    if (st != DLOR_OK) {
        free(c);
        return st;
    }
    if ((st = check_archive(c)) != DLOR_OK) goto done;
    long pi = find(c, "data.pkl", NULL, 0);
    if (pi < 0) {
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: no '%s/data.pkl' record (not a torch.save archive)",
                       what, prefix_q(c, p, sizeof p));
        goto done;
    }
    const unsigned char *pkl;
    size_t pkl_len;
    if ((st = extract(c, (size_t)pi, DLOR_MAX_INPUT_BYTES, &pkl, &pkl_len, &pkl_block)) != DLOR_OK)
        goto done;
    if ((st = dlor_pkl_load(&c->pk, pkl, pkl_len, what, err)) != DLOR_OK) goto done;
    const dlor_pkl_obj *root = &c->pk.objs[c->pk.root];
    if (root->kind != DLOR_PKL_DICT) {
        st = dlor_fail(err, DLOR_E_UNSUPPORTED,
                       "%s: the pickled object is %s, not a dict of tensors (dlor reads state "
                       "dicts: torch.save(model.state_dict(), path))",
                       what, dlor_pkl_kind_name(root->kind));
        goto done;
    }
    if (c->pk.ntensors) {
        c->views = calloc(c->pk.ntensors, sizeof *c->views);
        if (!c->views) {
            st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
            goto done;
        }
    }
    if ((st = walk(c, c->pk.root, 0, 0)) != DLOR_OK) goto done;
    st = dlor_tensor_list_check_unique(out, what, err);
done:
    dlor_pkl_free(&c->pk);
    free(pkl_block);
    free(c->views);
    free(c->by_name);
    free(c->recs);
    dlor_zip_close(&c->z);
    free(c);
    return st;
}

dlor_status dlor_pt_parse(const unsigned char *buf, size_t len, const char *what,
                          dlor_tensor_list *out, dlor_error *err)
{
    if (!buf || !what || !out) return dlor_fail(err, DLOR_E_ARG, "dlor_pt_parse: NULL argument");
    dlor_status st = pt_append(buf, len, what, out, err);
    if (st != DLOR_OK) dlor_tensor_list_free(out);
    return st;
}

dlor_status dlor_read_pt(const char *path, dlor_tensor_list *out, dlor_error *err)
{
    unsigned char *buf;
    size_t len;
    dlor_status st = dlor_file_read(path, DLOR_MAX_INPUT_BYTES, &buf, &len, err);
    if (st != DLOR_OK) return st;
    if ((st = dlor_tensor_list_own(out, buf, err)) == DLOR_OK)
        st = pt_append(buf, len, path, out, err);
    if (st != DLOR_OK) dlor_tensor_list_free(out);
    return st;
}
