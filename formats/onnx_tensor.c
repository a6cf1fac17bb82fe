/* onnx_tensor.c - decoding ONNX TensorProtos (raw_data or the typed repeated
 * fields, or external data) into tensors. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static const uint32_t tf_field[TF_COUNT] = {4, 5, 6, 7, 10, 11};
static const int tf_wt[TF_COUNT] = {DLOR_PB_I32, DLOR_PB_VARINT, DLOR_PB_LEN, DLOR_PB_VARINT,
                                    DLOR_PB_I64, DLOR_PB_VARINT};
static const char *const tf_name[TF_COUNT] = {"float_data", "int32_data", "string_data",
                                              "int64_data", "double_data", "uint64_data"};

/* Stores one value v of a typed field into element i of t (allocated). */
static dlor_status put_typed(ox_ctx *c, const char *label, ox_tensor *t, int64_t otype, int tf,
                             uint64_t i, uint64_t v)
{
    unsigned char *p = (unsigned char *)t->data + i * dlor_dtype_size(t->dt);
    int64_t x, lo = 0, hi = 0;
    switch (tf) {
    case TF_FLOAT: dlor_store_u32(p, (uint32_t)v); return DLOR_OK;
    case TF_DOUBLE: case TF_INT64: dlor_store_u64(p, v); return DLOR_OK;
    case TF_UINT64:
        if (t->dt == DLOR_DT_U32 && v > 0xffffffffu)
            return ox_fail(c, DLOR_E_FORMAT, "%s: uint64_data value %llu at index %llu is out of "
                           "range for UINT32", label, (unsigned long long)v, (unsigned long long)i);
        if (t->dt == DLOR_DT_U32) dlor_store_u32(p, (uint32_t)v);
        else dlor_store_u64(p, v);
        return DLOR_OK;
    default: break;
    }
    /* int32_data: an int32 sign-extended to 64 bits on the wire */
    if (v <= 0x7fffffffu) x = (int64_t)v;
    else if (v >= 0xffffffff80000000ull) x = -(int64_t)(~v) - 1;
    else
        return ox_fail(c, DLOR_E_FORMAT, "%s: int32_data value %llu at index %llu is not an int32",
                       label, (unsigned long long)v, (unsigned long long)i);
    switch (t->dt) {
    case DLOR_DT_I32: dlor_store_u32(p, (uint32_t)x); return DLOR_OK;
    case DLOR_DT_I16: lo = -32768, hi = 32767; break;
    case DLOR_DT_I8: lo = -128, hi = 127; break;
    case DLOR_DT_U8: hi = 255; break;
    case DLOR_DT_BOOL: hi = 1; break;
    default: hi = 0xffff; break; /* U16, F16, BF16 (bit patterns) */
    }
    if (x < lo || x > hi)
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: int32_data value %lld at index %llu is out of range for %s (%lld to "
                       "%lld)", label, (long long)x, (unsigned long long)i, ox_type_name(otype),
                       (long long)lo, (long long)hi);
    if (dlor_dtype_size(t->dt) == 1) p[0] = (unsigned char)x;
    else dlor_store_u16(p, (uint16_t)x);
    return DLOR_OK;
}

/* Decodes the TensorProto in msg. kind names it in messages ("initializer",
 * "node 'c': attribute 'value'"). Data of raw_data points into the buffer;
 * typed and external data go to blocks owned by c->out. */
dlor_status ox_decode_tensor(ox_ctx *c, const dlor_pb *msg, const char *kind, int index,
                                 int allow_external, ox_tensor *t)
{
    char label[256];
    dlor_pb r = *msg;
    dlor_pb_field f;
    dlor_status s;
    ox_str raw = {NULL, 0};
    ox_ext x;
    int64_t otype = 0;
    uint64_t location = 0, typed_count[TF_COUNT] = {0};
    int has_raw = 0, has_segment = 0, has_typed[TF_COUNT] = {0}, dims_over = 0;
    memset(t, 0, sizeof *t);
    memset(&x, 0, sizeof x);

    /* the name first, so that every later message can show it */
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) {
            if (index >= 0) snprintf(label, sizeof label, "%s #%d", kind, index);
            else snprintf(label, sizeof label, "%s", kind);
            return ox_pb_err(c, s, label);
        }
        if (!f.num) break;
        if (f.num == 8 && f.wt == DLOR_PB_LEN) t->name = (ox_str){f.data, f.len};
    }
    if (t->name.n) snprintf(label, sizeof label, "%s '%s'", kind, ox_s(c, t->name));
    else if (index >= 0) snprintf(label, sizeof label, "%s #%d", kind, index);
    else snprintf(label, sizeof label, "%s", kind);

    r = *msg;
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) return ox_pb_err(c, s, label);
        if (!f.num) break;
        switch (f.num) {
        case 1: { /* dims (int64, usually unpacked) */
            uint64_t n, v;
            dlor_pb_iter it;
            if ((s = dlor_pb_count(&r, &f, DLOR_PB_VARINT, &n, c->err))) return ox_pb_err(c, s, label);
            dlor_pb_iter_init(&it, &f, DLOR_PB_VARINT);
            while (dlor_pb_iter_next(&it, &v)) {
                if (v >> 63)
                    return ox_fail(c, DLOR_E_FORMAT, "%s: negative dimension %lld", label,
                                   (long long)(-(int64_t)(~v) - 1));
                if (t->ndim == DLOR_MAX_NDIM) dims_over = 1;
                else t->dims[t->ndim++] = v;
            }
            break;
        }
        case 2:
            if ((s = ox_want_wt(c, &f, DLOR_PB_VARINT, label, "data_type"))) return s;
            otype = (int64_t)f.u;
            break;
        case 3: has_segment = 1; break;
        case 8:
            if ((s = ox_want_wt(c, &f, DLOR_PB_LEN, label, "name"))) return s;
            break;
        case 9:
            if ((s = ox_want_wt(c, &f, DLOR_PB_LEN, label, "raw_data"))) return s;
            raw = (ox_str){f.data, f.len};
            has_raw = 1;
            break;
        case 13:
            if ((s = ox_want_wt(c, &f, DLOR_PB_LEN, label, "external_data"))) return s;
            if ((s = ox_parse_ext_entry(c, &r, &f, label, &x))) return s;
            break;
        case 14:
            if ((s = ox_want_wt(c, &f, DLOR_PB_VARINT, label, "data_location"))) return s;
            location = f.u;
            break;
        default:
            for (int k = 0; k < TF_COUNT; k++) {
                uint64_t n;
                if (f.num != tf_field[k]) continue;
                if (k == TF_STRING) n = 1;
                else if ((s = dlor_pb_count(&r, &f, tf_wt[k], &n, c->err))) return ox_pb_err(c, s, label);
                has_typed[k] = 1;
                typed_count[k] += n; /* no overflow: bounded by the buffer length */
            }
            break;
        }
    }
    if (dims_over)
        return ox_fail(c, DLOR_E_LIMIT, "%s: more than %d dimensions", label, DLOR_MAX_NDIM);
    if (has_segment) return ox_fail(c, DLOR_E_UNSUPPORTED, "%s: segmented tensors are not supported", label);
    t->dt = ox_dtype_of(otype);
    if (t->dt == DLOR_DT_INVALID) {
        if (otype == OT_UNDEFINED)
            return ox_fail(c, DLOR_E_UNSUPPORTED, "%s: data_type 0 (UNDEFINED) is not supported",
                           label);
        return ox_fail(c, DLOR_E_UNSUPPORTED, "%s: data_type %lld (%s) is not supported", label,
                       (long long)otype, ox_type_name(otype));
    }
    char shape[200];
    uint64_t nbytes;
    dlor_shape_str(t->dims, t->ndim, shape, sizeof shape);
    if (dlor_shape_nelem(t->dims, t->ndim, &t->nelem) ||
        dlor_shape_nbytes(t->dims, t->ndim, t->dt, &nbytes) || nbytes > SIZE_MAX)
        return ox_fail(c, DLOR_E_FORMAT, "%s: dims %s: size overflows", label, shape);
    t->nbytes = (size_t)nbytes;

    int ntyped = 0, which = -1;
    for (int k = 0; k < TF_COUNT; k++)
        if (has_typed[k]) ntyped++, which = k;
    if (location > 1)
        return ox_fail(c, DLOR_E_FORMAT, "%s: data_location %llu is invalid (0 or 1)", label,
                       (unsigned long long)location);
    if (location == 1) {
        if (has_raw || ntyped)
            return ox_fail(c, DLOR_E_FORMAT, "%s: external data and %s are both set", label,
                           has_raw ? "raw_data" : tf_name[which]);
        if (!allow_external)
            return ox_fail(c, DLOR_E_UNSUPPORTED, "%s: external data is not supported here", label);
        return ox_read_external(c, &x, label, t);
    }
    if (x.has_loc || x.has_off || x.has_len || x.has_sum)
        return ox_fail(c, DLOR_E_FORMAT, "%s: external_data is set but data_location is not EXTERNAL",
                       label);
    if (has_raw && ntyped)
        return ox_fail(c, DLOR_E_FORMAT, "%s: both raw_data and %s are set", label, tf_name[which]);
    if (ntyped > 1)
        return ox_fail(c, DLOR_E_FORMAT, "%s: values are spread over several typed fields", label);
    if (has_raw) {
        if (raw.n != t->nbytes)
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: raw_data holds %zu bytes, dims %s of %s need %zu", label, raw.n,
                           shape, ox_type_name(otype), t->nbytes);
        t->data = raw.p;
        return DLOR_OK;
    }
    if (!ntyped) {
        if (t->nelem == 0) {
            t->data = msg->base; /* any valid pointer: there are no bytes */
            return DLOR_OK;
        }
        return ox_fail(c, DLOR_E_FORMAT, "%s: dims %s but no data", label, shape);
    }
    if (which != ox_typed_field_for(otype))
        return ox_fail(c, DLOR_E_FORMAT, "%s: %s holds the values of a %s tensor (expected %s)",
                       label, tf_name[which], ox_type_name(otype), tf_name[ox_typed_field_for(otype)]);
    if (typed_count[which] != t->nelem)
        return ox_fail(c, DLOR_E_FORMAT, "%s: %s holds %llu values, dims %s need %llu", label,
                       tf_name[which], (unsigned long long)typed_count[which], shape,
                       (unsigned long long)t->nelem);
    /* nbytes <= 8 * count <= 8 * buffer length: the allocation is bounded */
    unsigned char *p = malloc(t->nbytes ? t->nbytes : 1);
    if (!p) return ox_nomem(c);
    if (dlor_tensor_list_own(c->out, p, c->err)) return ox_nomem(c);
    t->data = p;
    uint64_t i = 0;
    r = *msg;
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) return ox_pb_err(c, s, label);
        if (!f.num) break;
        if (f.num != tf_field[which]) continue;
        dlor_pb_iter it;
        uint64_t v;
        dlor_pb_iter_init(&it, &f, tf_wt[which]);
        while (i < t->nelem && dlor_pb_iter_next(&it, &v))
            if ((s = put_typed(c, label, t, otype, which, i++, v))) return s;
    }
    return DLOR_OK;
}
