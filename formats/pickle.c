/* pickle.c - the restricted unpickler behind the PyTorch reader (see
 * dlor_pickle.h). A stack machine over plain data: nothing from the stream
 * is ever imported, called or evaluated. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_pickle.h"
#include "dlor_zip.h"

#define NO_OBJ UINT32_MAX

static const struct {
    unsigned char code;
    const char *name;
} op_names[] = {
    {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'M', "BININT2"}, {'L', "LONG"},
    {0x8a, "LONG1"}, {0x8b, "LONG4"}, {'S', "STRING"}, {'T', "BINSTRING"},
    {'U', "SHORT_BINSTRING"}, {'B', "BINBYTES"}, {'C', "SHORT_BINBYTES"}, {0x8e, "BINBYTES8"},
    {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"}, {'N', "NONE"},
    {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {'V', "UNICODE"}, {0x8c, "SHORT_BINUNICODE"},
    {'X', "BINUNICODE"}, {0x8d, "BINUNICODE8"}, {'F', "FLOAT"}, {'G', "BINFLOAT"},
    {']', "EMPTY_LIST"}, {'a', "APPEND"}, {'e', "APPENDS"}, {'l', "LIST"}, {')', "EMPTY_TUPLE"},
    {'t', "TUPLE"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"}, {'}', "EMPTY_DICT"},
    {'d', "DICT"}, {'s', "SETITEM"}, {'u', "SETITEMS"}, {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"},
    {0x91, "FROZENSET"}, {'0', "POP"}, {'2', "DUP"}, {'(', "MARK"}, {'1', "POP_MARK"},
    {'g', "GET"}, {'h', "BINGET"}, {'j', "LONG_BINGET"}, {'p', "PUT"}, {'q', "BINPUT"},
    {'r', "LONG_BINPUT"}, {0x94, "MEMOIZE"}, {0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"},
    {'c', "GLOBAL"}, {0x93, "STACK_GLOBAL"}, {'R', "REDUCE"}, {'b', "BUILD"}, {'i', "INST"},
    {'o', "OBJ"}, {0x81, "NEWOBJ"}, {0x92, "NEWOBJ_EX"}, {0x80, "PROTO"}, {'.', "STOP"},
    {0x95, "FRAME"}, {'P', "PERSID"}, {'Q', "BINPERSID"},
};

static const char *op_name(unsigned char c)
{
    for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
        if (op_names[i].code == c) return op_names[i].name;
    return NULL;
}

static const struct {
    const char *name;
    dlor_dtype dt;
} storage_types[] = {
    {"FloatStorage", DLOR_DT_F32}, {"DoubleStorage", DLOR_DT_F64},
    {"HalfStorage", DLOR_DT_F16},  {"BFloat16Storage", DLOR_DT_BF16},
    {"LongStorage", DLOR_DT_I64},  {"IntStorage", DLOR_DT_I32},
    {"ShortStorage", DLOR_DT_I16}, {"CharStorage", DLOR_DT_I8},
    {"ByteStorage", DLOR_DT_U8},   {"BoolStorage", DLOR_DT_BOOL},
};

const char *dlor_pkl_kind_name(int kind)
{
    switch (kind) {
    case DLOR_PKL_NONE: return "None";
    case DLOR_PKL_BOOL: return "a bool";
    case DLOR_PKL_INT: return "an int";
    case DLOR_PKL_FLOAT: return "a float";
    case DLOR_PKL_STR: return "a str";
    case DLOR_PKL_TUPLE: return "a tuple";
    case DLOR_PKL_LIST: return "a list";
    case DLOR_PKL_DICT: return "a dict";
    case DLOR_PKL_GLOBAL: return "a global";
    case DLOR_PKL_STORAGE: return "a storage";
    case DLOR_PKL_TENSOR: return "a tensor";
    default: return "an unknown object";
    }
}

typedef struct vm {
    dlor_pkl *p;
    const unsigned char *buf;
    size_t len, pos, op_pos;
    unsigned char op;
    const char *what;
    dlor_error *err;
    uint32_t *stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    uint32_t *memo;
    size_t memo_cap, memo_count;
} vm;

/* Fails with "<what>: pickle offset N (OPCODE): <message>". */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static dlor_status bad(vm *v, dlor_status code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *on = op_name(v->op);
    return dlor_fail(v->err, code, "%s: pickle offset %zu (%s): %s", v->what, v->op_pos,
                     on ? on : "?", msg);
}

/* Grows *arr to hold at least need elements of size sz, doubling up to max. */
static int grow(void **arr, size_t *cap, size_t need, size_t sz, size_t max)
{
    if (need <= *cap) return 0;
    if (need > max) return -1;
    size_t c = *cap ? *cap : 16;
    while (c < need) c = c > max / 2 ? max : c * 2;
    void *n = realloc(*arr, c * sz);
    if (!n) return -1;
    *arr = n;
    *cap = c;
    return 0;
}

static dlor_status need(vm *v, size_t n)
{
    if (v->len - v->pos < n)
        return bad(v, DLOR_E_FORMAT, "needs %zu bytes of argument, %zu left", n, v->len - v->pos);
    return DLOR_OK;
}

static dlor_status new_obj(vm *v, dlor_pkl_kind kind, uint32_t *id)
{
    dlor_pkl *p = v->p;
    *id = 0; /* defined on failure too (GCC's -O3 cannot tell it is then unused) */
    if (p->nobjs >= DLOR_PKL_MAX_OBJECTS)
        return bad(v, DLOR_E_LIMIT, "more than %u objects", DLOR_PKL_MAX_OBJECTS);
    if (grow((void **)&p->objs, &p->objs_cap, p->nobjs + 1, sizeof *p->objs, DLOR_PKL_MAX_OBJECTS))
        return bad(v, DLOR_E_NOMEM, "out of memory");
    dlor_pkl_obj *o = &p->objs[p->nobjs];
    memset(o, 0, sizeof *o);
    o->kind = (unsigned char)kind;
    *id = (uint32_t)p->nobjs++;
    return DLOR_OK;
}

static dlor_status push(vm *v, uint32_t id)
{
    if (v->sp >= DLOR_PKL_MAX_STACK)
        return bad(v, DLOR_E_LIMIT, "stack deeper than %u items", DLOR_PKL_MAX_STACK);
    if (grow((void **)&v->stack, &v->stack_cap, v->sp + 1, sizeof *v->stack, DLOR_PKL_MAX_STACK))
        return bad(v, DLOR_E_NOMEM, "out of memory");
    v->stack[v->sp++] = id;
    return DLOR_OK;
}

static dlor_status push_new(vm *v, dlor_pkl_kind kind, uint32_t *id)
{
    dlor_status st = new_obj(v, kind, id);
    return st != DLOR_OK ? st : push(v, *id);
}

/* Items below the innermost MARK belong to an enclosing frame (as in CPython,
 * where MARK starts a fresh stack). */
static size_t floor_of(const vm *v)
{
    return v->nmarks ? v->marks[v->nmarks - 1] : 0;
}

static dlor_status pop(vm *v, uint32_t *id)
{
    *id = 0;
    if (v->sp <= floor_of(v)) return bad(v, DLOR_E_FORMAT, "stack underflow");
    *id = v->stack[--v->sp];
    return DLOR_OK;
}

static dlor_status top(vm *v, uint32_t *id)
{
    *id = 0;
    if (v->sp <= floor_of(v)) return bad(v, DLOR_E_FORMAT, "stack underflow");
    *id = v->stack[v->sp - 1];
    return DLOR_OK;
}

/* Closes the innermost MARK; the items above it are stack[*start .. sp). */
static dlor_status pop_mark(vm *v, size_t *start)
{
    if (!v->nmarks) return bad(v, DLOR_E_FORMAT, "no MARK to close");
    *start = v->marks[--v->nmarks];
    return DLOR_OK;
}

static dlor_pkl_obj *obj(vm *v, uint32_t id) { return &v->p->objs[id]; }

/* Appends n ids to a LIST (n) or DICT (n/2 pairs). */
static dlor_status extend(vm *v, uint32_t target, const uint32_t *ids, size_t n)
{
    dlor_pkl_obj *o = obj(v, target);
    size_t used = o->kind == DLOR_PKL_DICT ? 2 * o->len : o->len;
    if (n == 0) return DLOR_OK;
    if (n > DLOR_PKL_MAX_ITEMS - used)
        return bad(v, DLOR_E_LIMIT, "%s with more than %u items", dlor_pkl_kind_name(o->kind),
                   DLOR_PKL_MAX_ITEMS);
    if (grow((void **)&o->u.items, &o->cap, used + n, sizeof(uint32_t), DLOR_PKL_MAX_ITEMS))
        return bad(v, DLOR_E_NOMEM, "out of memory");
    memcpy(o->u.items + used, ids, n * sizeof *ids);
    o->len += o->kind == DLOR_PKL_DICT ? n / 2 : n;
    return DLOR_OK;
}

static dlor_status make_tuple(vm *v, size_t start)
{
    size_t n = v->sp - start;
    uint32_t *items = NULL, id;
    if (n) {
        items = malloc(n * sizeof *items);
        if (!items) return bad(v, DLOR_E_NOMEM, "out of memory");
        memcpy(items, v->stack + start, n * sizeof *items);
    }
    v->sp = start;
    dlor_status st = new_obj(v, DLOR_PKL_TUPLE, &id);
    if (st != DLOR_OK) {
        free(items);
        return st;
    }
    obj(v, id)->u.items = items;
    obj(v, id)->len = n;
    return push(v, id);
}

static dlor_status tuple_n(vm *v, size_t n)
{
    if (v->sp - floor_of(v) < n) return bad(v, DLOR_E_FORMAT, "stack underflow");
    return make_tuple(v, v->sp - n);
}

static dlor_status add_str(vm *v, size_t n)
{
    uint32_t id;
    dlor_status st = need(v, n);
    if (st != DLOR_OK) return st;
    if ((st = push_new(v, DLOR_PKL_STR, &id)) != DLOR_OK) return st;
    obj(v, id)->u.s = v->buf + v->pos;
    obj(v, id)->len = n;
    v->pos += n;
    return DLOR_OK;
}

static dlor_status add_int(vm *v, dlor_pkl_kind kind, int64_t x)
{
    uint32_t id;
    dlor_status st = push_new(v, kind, &id);
    if (st == DLOR_OK) obj(v, id)->u.i = x;
    return st;
}

static uint64_t load_le(const unsigned char *p, size_t n)
{
    uint64_t x = 0;
    for (size_t i = n; i-- > 0;) x = (x << 8) | p[i];
    return x;
}

static dlor_status op_long1(vm *v)
{
    dlor_status st = need(v, 1);
    if (st != DLOR_OK) return st;
    size_t n = v->buf[v->pos++];
    if (n > 8)
        return bad(v, DLOR_E_LIMIT, "integer of %zu bytes is beyond the 8-byte (int64) limit", n);
    if ((st = need(v, n)) != DLOR_OK) return st;
    uint64_t u = load_le(v->buf + v->pos, n);
    /* sign-extend two's complement of n bytes */
    if (n && n < 8 && (v->buf[v->pos + n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
    v->pos += n;
    int64_t x;
    memcpy(&x, &u, sizeof x);
    return add_int(v, DLOR_PKL_INT, x);
}

static dlor_status op_binfloat(vm *v)
{
    dlor_status st = need(v, 8);
    if (st != DLOR_OK) return st;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = (u << 8) | v->buf[v->pos + i]; /* big-endian */
    v->pos += 8;
    uint32_t id;
    if ((st = push_new(v, DLOR_PKL_FLOAT, &id)) != DLOR_OK) return st;
    memcpy(&obj(v, id)->u.f, &u, sizeof u);
    return DLOR_OK;
}

static int name_is(const unsigned char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* GLOBAL "module\nname\n": resolved against the allow-list, never imported. */
static dlor_status op_global(vm *v)
{
    const unsigned char *mod = v->buf + v->pos, *nm, *end = v->buf + v->len;
    size_t lim = v->len - v->pos < DLOR_PKL_MAX_GLOBAL ? v->len - v->pos : DLOR_PKL_MAX_GLOBAL;
    const unsigned char *nl1 = memchr(mod, '\n', lim), *nl2 = NULL;
    if (nl1) {
        nm = nl1 + 1;
        nl2 = memchr(nm, '\n', lim - (size_t)(nm - mod));
    }
    if (!nl2)
        return bad(v, end - mod < (ptrdiff_t)DLOR_PKL_MAX_GLOBAL ? DLOR_E_FORMAT : DLOR_E_LIMIT,
                   "global name is not two newline-terminated lines within %u bytes",
                   DLOR_PKL_MAX_GLOBAL);
    size_t ml = (size_t)(nl1 - mod), nl = (size_t)(nl2 - nm);
    v->pos = (size_t)(nl2 + 1 - v->buf);
    int sym = 0;
    dlor_dtype dt = DLOR_DT_INVALID;
    if (name_is(mod, ml, "collections") && name_is(nm, nl, "OrderedDict")) {
        sym = DLOR_PKL_SYM_ORDERED_DICT;
    } else if (name_is(mod, ml, "torch._utils") && name_is(nm, nl, "_rebuild_tensor_v2")) {
        sym = DLOR_PKL_SYM_REBUILD_TENSOR_V2;
    } else if (name_is(mod, ml, "torch._utils") && name_is(nm, nl, "_rebuild_parameter")) {
        sym = DLOR_PKL_SYM_REBUILD_PARAMETER;
    } else if (name_is(mod, ml, "torch")) {
        for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; i++)
            if (name_is(nm, nl, storage_types[i].name)) {
                sym = DLOR_PKL_SYM_STORAGE;
                dt = storage_types[i].dt;
            }
    }
    if (!sym) {
        char qm[96], qn[96];
        dlor_zip_quote(mod, ml, qm, sizeof qm);
        dlor_zip_quote(nm, nl, qn, sizeof qn);
        if (name_is(mod, ml, "torch") && nl > 7 && memcmp(nm + nl - 7, "Storage", 7) == 0)
            return dlor_fail(
                v->err, DLOR_E_UNSUPPORTED,
                "%s: pickle global 'torch %s' at offset %zu: storage type not supported "
                "(dlor reads Float, Double, Half, BFloat16, Long, Int, Short, Char, "
                "Byte and Bool storages)",
                v->what, qn, v->op_pos);
        return dlor_fail(v->err, DLOR_E_UNSUPPORTED,
                         "%s: pickle global '%s %s' at offset %zu is not allowed (state dicts only "
                         "use OrderedDict, _rebuild_tensor_v2 and storage types)",
                         v->what, qm, qn, v->op_pos);
    }
    uint32_t id;
    dlor_status st = push_new(v, DLOR_PKL_GLOBAL, &id);
    if (st == DLOR_OK) {
        obj(v, id)->sym = (unsigned char)sym;
        obj(v, id)->dtype = (unsigned char)dt;
    }
    return st;
}

static const char *sym_name(int sym)
{
    switch (sym) {
    case DLOR_PKL_SYM_ORDERED_DICT: return "collections.OrderedDict";
    case DLOR_PKL_SYM_REBUILD_TENSOR_V2: return "torch._utils._rebuild_tensor_v2";
    case DLOR_PKL_SYM_REBUILD_PARAMETER: return "torch._utils._rebuild_parameter";
    default: return "a torch storage class";
    }
}

/* Reads a tuple of ints into out (at most DLOR_MAX_NDIM kept); returns its length. */
static dlor_status int_tuple(vm *v, uint32_t id, const char *what_arg, int64_t *out, int *n)
{
    const dlor_pkl_obj *t = obj(v, id);
    if (t->kind != DLOR_PKL_TUPLE)
        return bad(v, DLOR_E_FORMAT, "_rebuild_tensor_v2 %s is %s, not a tuple of ints", what_arg,
                   dlor_pkl_kind_name(t->kind));
    for (size_t i = 0; i < t->len; i++) {
        const dlor_pkl_obj *x = obj(v, t->u.items[i]);
        if (x->kind != DLOR_PKL_INT)
            return bad(v, DLOR_E_FORMAT, "_rebuild_tensor_v2 %s item %zu is %s, not an int",
                       what_arg, i, dlor_pkl_kind_name(x->kind));
        if (i < DLOR_MAX_NDIM) out[i] = x->u.i;
    }
    *n = t->len > 1000 ? 1000 : (int)t->len;
    return DLOR_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]): types and arity only. */
static dlor_status rebuild_tensor(vm *v, const dlor_pkl_obj *args)
{
    static const char *const slot[] = {"storage", "storage_offset", "size", "stride",
                                       "requires_grad", "backward_hooks", "metadata"};
    if (args->len != 6 && args->len != 7)
        return bad(v, DLOR_E_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu",
                   args->len);
    static const unsigned char want[] = {DLOR_PKL_STORAGE, DLOR_PKL_INT, DLOR_PKL_TUPLE,
                                         DLOR_PKL_TUPLE, DLOR_PKL_BOOL, DLOR_PKL_DICT,
                                         DLOR_PKL_DICT};
    for (size_t i = 0; i < args->len; i++) {
        int k = obj(v, args->u.items[i])->kind;
        if (k != want[i] && !(i == 6 && k == DLOR_PKL_NONE))
            return bad(v, DLOR_E_FORMAT, "_rebuild_tensor_v2 argument %zu (%s) is %s, not %s", i,
                       slot[i], dlor_pkl_kind_name(k), dlor_pkl_kind_name(want[i]));
    }
    dlor_pkl_tensor t;
    memset(&t, 0, sizeof t);
    t.storage = obj(v, args->u.items[0])->u.idx;
    t.offset = obj(v, args->u.items[1])->u.i;
    t.pos = v->op_pos;
    int ns, nst;
    dlor_status st = int_tuple(v, args->u.items[2], "size", t.size, &ns);
    if (st == DLOR_OK) st = int_tuple(v, args->u.items[3], "stride", t.stride, &nst);
    if (st != DLOR_OK) return st;
    if (ns != nst)
        return bad(v, DLOR_E_FORMAT, "_rebuild_tensor_v2 size has %d items but stride has %d", ns,
                   nst);
    t.ndim = ns;
    dlor_pkl *p = v->p;
    if (grow((void **)&p->tensors, &p->tensors_cap, p->ntensors + 1, sizeof t,
             DLOR_PKL_MAX_OBJECTS))
        return bad(v, DLOR_E_NOMEM, "out of memory");
    p->tensors[p->ntensors] = t;
    uint32_t id;
    if ((st = push_new(v, DLOR_PKL_TENSOR, &id)) != DLOR_OK) return st;
    obj(v, id)->u.idx = (uint32_t)p->ntensors++;
    return DLOR_OK;
}

static dlor_status op_reduce(vm *v, int newobj)
{
    uint32_t fid = 0, aid = 0;
    dlor_status st = pop(v, &aid);
    if (st == DLOR_OK) st = pop(v, &fid);
    if (st != DLOR_OK) return st;
    const dlor_pkl_obj *f = obj(v, fid), *args = obj(v, aid);
    if (f->kind != DLOR_PKL_GLOBAL)
        return bad(v, DLOR_E_UNSUPPORTED, "calling %s is not allowed", dlor_pkl_kind_name(f->kind));
    if (args->kind != DLOR_PKL_TUPLE)
        return bad(v, DLOR_E_FORMAT, "arguments of %s are %s, not a tuple", sym_name(f->sym),
                   dlor_pkl_kind_name(args->kind));
    if (f->sym == DLOR_PKL_SYM_ORDERED_DICT) {
        uint32_t id;
        if (args->len != 0)
            return bad(v, DLOR_E_UNSUPPORTED,
                       "OrderedDict with %zu arguments (only OrderedDict() is allowed)", args->len);
        return push_new(v, DLOR_PKL_DICT, &id);
    }
    if (newobj)
        return bad(v, DLOR_E_UNSUPPORTED, "NEWOBJ on %s is not allowed (only OrderedDict)",
                   sym_name(f->sym));
    if (f->sym == DLOR_PKL_SYM_REBUILD_TENSOR_V2) return rebuild_tensor(v, args);
    if (f->sym == DLOR_PKL_SYM_REBUILD_PARAMETER) {
        if (args->len != 3 || obj(v, args->u.items[0])->kind != DLOR_PKL_TENSOR ||
            obj(v, args->u.items[1])->kind != DLOR_PKL_BOOL ||
            obj(v, args->u.items[2])->kind != DLOR_PKL_DICT)
            return bad(v, DLOR_E_FORMAT,
                       "_rebuild_parameter takes (tensor, bool, dict), got %zu arguments",
                       args->len);
        return push(v, args->u.items[0]);
    }
    return bad(v, DLOR_E_UNSUPPORTED, "calling %s is not allowed", sym_name(f->sym));
}

/* BINPERSID: ('storage', StorageType, key, location, numel). */
static dlor_status op_binpersid(vm *v)
{
    uint32_t pid;
    dlor_status st = pop(v, &pid);
    if (st != DLOR_OK) return st;
    const dlor_pkl_obj *t = obj(v, pid);
    if (t->kind != DLOR_PKL_TUPLE)
        return bad(v, DLOR_E_FORMAT, "persistent id is %s, not a tuple ('storage', type, key, "
                                     "location, numel)", dlor_pkl_kind_name(t->kind));
    if (t->len != 5)
        return bad(v, DLOR_E_FORMAT, "persistent id has %zu items, not 5 ('storage', type, key, "
                                     "location, numel)", t->len);
    const dlor_pkl_obj *tag = obj(v, t->u.items[0]), *cls = obj(v, t->u.items[1]),
                       *key = obj(v, t->u.items[2]), *loc = obj(v, t->u.items[3]),
                       *numel = obj(v, t->u.items[4]);
    if (tag->kind != DLOR_PKL_STR || !name_is(tag->u.s, tag->len, "storage")) {
        char q[64] = "";
        if (tag->kind == DLOR_PKL_STR) dlor_zip_quote(tag->u.s, tag->len, q, sizeof q);
        return bad(v, DLOR_E_FORMAT, "persistent id starts with %s%s%s, not 'storage'",
                   tag->kind == DLOR_PKL_STR ? "'" : "",
                   tag->kind == DLOR_PKL_STR ? q : dlor_pkl_kind_name(tag->kind),
                   tag->kind == DLOR_PKL_STR ? "'" : "");
    }
    if (cls->kind != DLOR_PKL_GLOBAL || cls->sym != DLOR_PKL_SYM_STORAGE)
        return bad(v, DLOR_E_FORMAT, "persistent id item 1 is %s, not a storage type",
                   cls->kind == DLOR_PKL_GLOBAL ? sym_name(cls->sym)
                                                : dlor_pkl_kind_name(cls->kind));
    if (key->kind != DLOR_PKL_STR || loc->kind != DLOR_PKL_STR)
        return bad(v, DLOR_E_FORMAT, "persistent id key and location must be str, got %s and %s",
                   dlor_pkl_kind_name(key->kind), dlor_pkl_kind_name(loc->kind));
    if (numel->kind != DLOR_PKL_INT || numel->u.i < 0)
        return numel->kind != DLOR_PKL_INT
                   ? bad(v, DLOR_E_FORMAT, "persistent id numel is %s, not an int",
                         dlor_pkl_kind_name(numel->kind))
                   : bad(v, DLOR_E_FORMAT, "persistent id numel %lld is negative",
                         (long long)numel->u.i);
    dlor_pkl *p = v->p;
    if (grow((void **)&p->storages, &p->storages_cap, p->nstorages + 1, sizeof *p->storages,
             DLOR_PKL_MAX_OBJECTS))
        return bad(v, DLOR_E_NOMEM, "out of memory");
    dlor_pkl_storage *s = &p->storages[p->nstorages];
    s->dtype = (dlor_dtype)cls->dtype;
    s->key = key->u.s;
    s->key_len = key->len;
    s->location = loc->u.s;
    s->location_len = loc->len;
    s->numel = numel->u.i;
    s->pos = v->op_pos;
    uint32_t id;
    if ((st = push_new(v, DLOR_PKL_STORAGE, &id)) != DLOR_OK) return st;
    obj(v, id)->u.idx = (uint32_t)p->nstorages++;
    return DLOR_OK;
}

/* Python refuses dict keys that are dicts or lists (unhashable). */
static dlor_status check_keys(vm *v, const uint32_t *pairs, size_t npairs)
{
    for (size_t i = 0; i < npairs; i++) {
        int k = obj(v, pairs[2 * i])->kind;
        if (k == DLOR_PKL_DICT || k == DLOR_PKL_LIST)
            return bad(v, DLOR_E_FORMAT, "%s cannot be a dict key", dlor_pkl_kind_name(k));
    }
    return DLOR_OK;
}

static dlor_status op_setitems(vm *v, int many)
{
    size_t start = 0;
    dlor_status st;
    if (many) {
        if ((st = pop_mark(v, &start)) != DLOR_OK) return st;
    } else {
        if (v->sp - floor_of(v) < 2) return bad(v, DLOR_E_FORMAT, "stack underflow");
        start = v->sp - 2;
    }
    size_t n = v->sp - start;
    if (start <= floor_of(v))
        return bad(v, DLOR_E_FORMAT, "stack underflow (no dict below the items)");
    uint32_t target = v->stack[start - 1];
    if (obj(v, target)->kind != DLOR_PKL_DICT)
        return bad(v, DLOR_E_FORMAT, "setting items on %s, not a dict",
                   dlor_pkl_kind_name(obj(v, target)->kind));
    if (n % 2) return bad(v, DLOR_E_FORMAT, "odd number of items (%zu) for key/value pairs", n);
    if ((st = check_keys(v, v->stack + start, n / 2)) != DLOR_OK) return st;
    if ((st = extend(v, target, v->stack + start, n)) != DLOR_OK) return st;
    v->sp = start;
    return DLOR_OK;
}

static dlor_status op_appends(vm *v, int many)
{
    size_t start = 0;
    dlor_status st;
    if (many) {
        if ((st = pop_mark(v, &start)) != DLOR_OK) return st;
    } else {
        if (v->sp - floor_of(v) < 1) return bad(v, DLOR_E_FORMAT, "stack underflow");
        start = v->sp - 1;
    }
    if (start <= floor_of(v))
        return bad(v, DLOR_E_FORMAT, "stack underflow (no list below the items)");
    uint32_t target = v->stack[start - 1];
    if (obj(v, target)->kind != DLOR_PKL_LIST)
        return bad(v, DLOR_E_FORMAT, "appending to %s, not a list",
                   dlor_pkl_kind_name(obj(v, target)->kind));
    if ((st = extend(v, target, v->stack + start, v->sp - start)) != DLOR_OK) return st;
    v->sp = start;
    return DLOR_OK;
}

static dlor_status memo_put(vm *v, uint64_t idx)
{
    uint32_t id;
    dlor_status st = top(v, &id);
    if (st != DLOR_OK) return st;
    if (idx > DLOR_PKL_MAX_MEMO)
        return bad(v, DLOR_E_LIMIT, "memo index %llu is over the limit %u", (unsigned long long)idx,
                   DLOR_PKL_MAX_MEMO);
    size_t old = v->memo_cap;
    if (grow((void **)&v->memo, &v->memo_cap, (size_t)idx + 1, sizeof *v->memo,
             DLOR_PKL_MAX_MEMO + 1u))
        return bad(v, DLOR_E_NOMEM, "out of memory");
    for (size_t i = old; i < v->memo_cap; i++) v->memo[i] = NO_OBJ;
    if (v->memo[idx] == NO_OBJ) v->memo_count++;
    v->memo[idx] = id;
    return DLOR_OK;
}

static dlor_status memo_get(vm *v, uint64_t idx)
{
    if (idx >= v->memo_cap || v->memo[idx] == NO_OBJ)
        return bad(v, DLOR_E_FORMAT, "memo index %llu was never set", (unsigned long long)idx);
    return push(v, v->memo[idx]);
}

/* Runs one opcode; *done is set by STOP. */
static dlor_status step(vm *v, int *done)
{
    uint32_t id = 0;
    size_t start = 0;
    dlor_status st;
    v->op_pos = v->pos;
    v->op = v->buf[v->pos++];
    switch (v->op) {
    case 0x80: /* PROTO */
        if ((st = need(v, 1)) != DLOR_OK) return st;
        if (v->buf[v->pos] < 2 || v->buf[v->pos] > 5)
            return bad(v, DLOR_E_UNSUPPORTED, "pickle protocol %u (dlor reads 2 to 5)",
                       v->buf[v->pos]);
        v->p->protocol = v->buf[v->pos++];
        return DLOR_OK;
    case 0x95: /* FRAME: the whole stream is in memory, only the length is checked */
        if ((st = need(v, 8)) != DLOR_OK) return st;
        {
            uint64_t n = load_le(v->buf + v->pos, 8);
            v->pos += 8;
            if (n > v->len - v->pos)
                return bad(v, DLOR_E_FORMAT, "frame of %llu bytes, %zu left", (unsigned long long)n,
                           v->len - v->pos);
        }
        return DLOR_OK;
    case 'X': /* BINUNICODE */
        if ((st = need(v, 4)) != DLOR_OK) return st;
        v->pos += 4;
        return add_str(v, dlor_load_u32(v->buf + v->pos - 4));
    case 0x8c: /* SHORT_BINUNICODE */
        if ((st = need(v, 1)) != DLOR_OK) return st;
        return add_str(v, v->buf[v->pos++]);
    case 0x8d: /* BINUNICODE8 */
        if ((st = need(v, 8)) != DLOR_OK) return st;
        {
            uint64_t n = load_le(v->buf + v->pos, 8);
            v->pos += 8;
            if (n > v->len - v->pos)
                return bad(v, DLOR_E_FORMAT, "string of %llu bytes, %zu left",
                           (unsigned long long)n, v->len - v->pos);
            return add_str(v, (size_t)n);
        }
    case 'J': /* BININT */
        if ((st = need(v, 4)) != DLOR_OK) return st;
        v->pos += 4;
        {
            int64_t x = dlor_load_u32(v->buf + v->pos - 4);
            return add_int(v, DLOR_PKL_INT, x >= 0x80000000 ? x - 0x100000000 : x);
        }
    case 'K': /* BININT1 */
        if ((st = need(v, 1)) != DLOR_OK) return st;
        return add_int(v, DLOR_PKL_INT, v->buf[v->pos++]);
    case 'M': /* BININT2 */
        if ((st = need(v, 2)) != DLOR_OK) return st;
        v->pos += 2;
        return add_int(v, DLOR_PKL_INT, dlor_load_u16(v->buf + v->pos - 2));
    case 0x8a: return op_long1(v);
    case 'G': return op_binfloat(v);
    case 0x88: return add_int(v, DLOR_PKL_BOOL, 1);
    case 0x89: return add_int(v, DLOR_PKL_BOOL, 0);
    case 'N': return push_new(v, DLOR_PKL_NONE, &id);
    case ')': return make_tuple(v, v->sp);
    case 't':
        if ((st = pop_mark(v, &start)) != DLOR_OK) return st;
        return make_tuple(v, start);
    case 0x85: return tuple_n(v, 1);
    case 0x86: return tuple_n(v, 2);
    case 0x87: return tuple_n(v, 3);
    case '}': return push_new(v, DLOR_PKL_DICT, &id);
    case ']': return push_new(v, DLOR_PKL_LIST, &id);
    case '(': /* MARK */
        if (v->nmarks >= DLOR_PKL_MAX_MARKS)
            return bad(v, DLOR_E_LIMIT, "more than %u nested MARKs", DLOR_PKL_MAX_MARKS);
        if (grow((void **)&v->marks, &v->marks_cap, v->nmarks + 1, sizeof *v->marks,
                 DLOR_PKL_MAX_MARKS))
            return bad(v, DLOR_E_NOMEM, "out of memory");
        v->marks[v->nmarks++] = v->sp;
        return DLOR_OK;
    case 's': return op_setitems(v, 0);
    case 'u': return op_setitems(v, 1);
    case 'a': return op_appends(v, 0);
    case 'e': return op_appends(v, 1);
    case 'q': /* BINPUT */
        if ((st = need(v, 1)) != DLOR_OK) return st;
        return memo_put(v, v->buf[v->pos++]);
    case 'r': /* LONG_BINPUT */
        if ((st = need(v, 4)) != DLOR_OK) return st;
        v->pos += 4;
        return memo_put(v, dlor_load_u32(v->buf + v->pos - 4));
    case 0x94: return memo_put(v, v->memo_count); /* MEMOIZE */
    case 'h': /* BINGET */
        if ((st = need(v, 1)) != DLOR_OK) return st;
        return memo_get(v, v->buf[v->pos++]);
    case 'j': /* LONG_BINGET */
        if ((st = need(v, 4)) != DLOR_OK) return st;
        v->pos += 4;
        return memo_get(v, dlor_load_u32(v->buf + v->pos - 4));
    case 'c': return op_global(v);
    case 'R': return op_reduce(v, 0);
    case 0x81: return op_reduce(v, 1); /* NEWOBJ: OrderedDict only */
    case 'b': /* BUILD: a dict's state (torch's _metadata) is dropped */
        if ((st = pop(v, &id)) != DLOR_OK) return st;
        if ((st = top(v, &id)) != DLOR_OK) return st;
        if (obj(v, id)->kind != DLOR_PKL_DICT)
            return bad(v, DLOR_E_UNSUPPORTED, "BUILD on %s (only dicts may carry state)",
                       dlor_pkl_kind_name(obj(v, id)->kind));
        return DLOR_OK;
    case 'Q': return op_binpersid(v);
    case '.': /* STOP */
        if (v->nmarks) return bad(v, DLOR_E_FORMAT, "%zu MARKs were never closed", v->nmarks);
        if (v->sp != 1) return bad(v, DLOR_E_FORMAT, "stack holds %zu items, not 1", v->sp);
        if (v->pos != v->len)
            return bad(v, DLOR_E_FORMAT, "%zu bytes follow STOP", v->len - v->pos);
        v->p->root = v->stack[0];
        *done = 1;
        return DLOR_OK;
    default: {
        const char *on = op_name(v->op);
        if (on)
            return dlor_fail(v->err, DLOR_E_UNSUPPORTED,
                             "%s: pickle opcode %s (0x%02x) at offset %zu is not allowed (state "
                             "dicts do not use it)",
                             v->what, on, v->op, v->op_pos);
        return dlor_fail(v->err, DLOR_E_FORMAT, "%s: unknown pickle opcode 0x%02x at offset %zu",
                         v->what, v->op, v->op_pos);
    }
    }
}

void dlor_pkl_free(dlor_pkl *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->nobjs; i++) {
        int k = p->objs[i].kind;
        if (k == DLOR_PKL_TUPLE || k == DLOR_PKL_LIST || k == DLOR_PKL_DICT)
            free(p->objs[i].u.items);
    }
    free(p->objs);
    free(p->storages);
    free(p->tensors);
    memset(p, 0, sizeof *p);
}

dlor_status dlor_pkl_load(dlor_pkl *p, const unsigned char *buf, size_t len, const char *what,
                          dlor_error *err)
{
    vm v;
    memset(p, 0, sizeof *p);
    memset(&v, 0, sizeof v);
    v.p = p;
    v.buf = buf;
    v.len = len;
    v.what = what;
    v.err = err;
    dlor_status st = DLOR_OK;
    int done = 0;
    while (st == DLOR_OK && !done) {
        if (v.pos >= v.len) {
            st = dlor_fail(err, DLOR_E_FORMAT, "%s: pickle ends without STOP after %zu bytes", what,
                           v.len);
            break;
        }
        st = step(&v, &done);
    }
    free(v.stack);
    free(v.marks);
    free(v.memo);
    if (st != DLOR_OK) dlor_pkl_free(p);
    return st;
}
