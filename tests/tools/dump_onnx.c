/* dump_onnx - prints what dlor reads from an ONNX model, one JSON object per
 * line: the tensors ({"name","dtype","shape","values"}, floats with 17
 * significant digits, integers exactly), then the recovered graph's ops
 * ({"op":"linear","weight","bias"}, {"op":"act","act","param"},
 * {"op":"softmax"}) and finally {"why": ...} (empty when the graph was
 * recovered). On a read error prints the message on stderr and exits 1.
 * Test-only: used by test_interop_onnx.py. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_readers.h"

static void print_str(const char *s)
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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dump_onnx MODEL.onnx\n");
        return 2;
    }
    dlor_tensor_list l;
    dlor_graph g;
    dlor_error err;
    char why[512];
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    if (dlor_read_onnx(argv[1], &l, &g, why, sizeof why, &err) != DLOR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t k = 0; k < l.count; k++) {
        const dlor_tensor *t = &l.items[k];
        printf("{\"name\": ");
        print_str(t->name);
        printf(", \"dtype\": \"%s\", \"shape\": [", dlor_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) printf("%s%" PRIu64, d ? ", " : "", t->dims[d]);
        printf("], \"values\": [");
        for (uint64_t i = 0; i < t->nelem; i++) {
            if (i) printf(", ");
            print_value(t, i);
        }
        printf("]}\n");
    }
    for (size_t i = 0; i < g.count; i++) {
        const dlor_graph_op *op = &g.ops[i];
        if (op->kind == DLOR_OP_LINEAR) {
            printf("{\"op\": \"linear\", \"weight\": ");
            print_str(op->weight);
            printf(", \"bias\": ");
            if (op->bias) print_str(op->bias);
            else printf("null");
            printf("}\n");
        } else if (op->kind == DLOR_OP_ACT) {
            printf("{\"op\": \"act\", \"act\": \"%s\", \"param\": %.17g}\n", dlor_act_name(op->act),
                   op->param);
        } else {
            printf("{\"op\": \"softmax\"}\n");
        }
    }
    printf("{\"why\": ");
    print_str(why);
    printf("}\n");
    dlor_graph_free(&g);
    dlor_tensor_list_free(&l);
    return 0;
}
