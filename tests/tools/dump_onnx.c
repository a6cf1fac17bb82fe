/* dump_onnx - prints what dlor reads from an ONNX model, one JSON object per
 * line: the tensors ({"name","dtype","shape","values"}, floats with 17
 * significant digits, integers exactly), then the recovered graph's ops
 * ({"op":"linear","weight","bias"}, {"op":"act","act","param"},
 * {"op":"softmax"}) and finally {"why": ...} (empty when the graph was
 * recovered). On a read error prints the message on stderr and exits 1.
 * Test-only: used by test_interop_onnx.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_readers.h"
#include "dump_common.h"

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
        dump_print_tensor(t);
    }
    for (size_t i = 0; i < g.count; i++) {
        const dlor_graph_op *op = &g.ops[i];
        if (op->kind == DLOR_OP_LINEAR) {
            printf("{\"op\": \"linear\", \"weight\": ");
            dump_print_str(op->weight);
            printf(", \"bias\": ");
            if (op->bias) dump_print_str(op->bias);
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
    dump_print_str(why);
    printf("}\n");
    dlor_graph_free(&g);
    dlor_tensor_list_free(&l);
    return 0;
}
