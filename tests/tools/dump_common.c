/* dump_common.c - JSON-lines printing shared by the test dump tools. */
#include "dump_common.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

void dump_print_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void print_value(const dlor_tensor *t, uint64_t i)
{
    const unsigned char *p = t->data + i * dlor_dtype_size(t->dtype);
    switch (t->dtype) {
    case DLOR_DT_I8: printf("%d", (int)(int8_t)p[0]); break;
    case DLOR_DT_U8: case DLOR_DT_BOOL: printf("%u", (unsigned)p[0]); break;
    case DLOR_DT_I16: printf("%d", (int)(int16_t)dlor_load_u16(p)); break;
    case DLOR_DT_U16: printf("%u", (unsigned)dlor_load_u16(p)); break;
    case DLOR_DT_I32: printf("%" PRId32, (int32_t)dlor_load_u32(p)); break;
    case DLOR_DT_U32: printf("%" PRIu32, dlor_load_u32(p)); break;
    case DLOR_DT_I64: printf("%" PRId64, (int64_t)dlor_load_u64(p)); break;
    case DLOR_DT_U64: printf("%" PRIu64, dlor_load_u64(p)); break;
    default: {
        dlor_tensor one = *t;
        double v;
        one.data = p;
        one.nelem = 1;
        dlor_tensor_to_f64(&one, &v, NULL);
        if (isnan(v)) printf("\"nan\"");
        else if (isinf(v)) printf(v > 0 ? "\"inf\"" : "\"-inf\"");
        else printf("%.17g", v);
    }
    }
}

void dump_print_tensor(const dlor_tensor *t)
{
    printf("{\"name\": ");
    dump_print_str(t->name);
    printf(", \"dtype\": \"%s\", \"shape\": [", dlor_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) printf("%s%" PRIu64, d ? ", " : "", t->dims[d]);
    printf("], \"values\": [");
    for (uint64_t i = 0; i < t->nelem; i++) {
        if (i) printf(", ");
        print_value(t, i);
    }
    printf("]}\n");
}
