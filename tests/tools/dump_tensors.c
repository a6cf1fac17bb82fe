/* dump_tensors - prints every tensor of a weight file as one JSON object per
 * line: {"name":..,"dtype":..,"shape":[..],"values":[..]}. Float values are
 * printed with 17 significant digits (exact for f64), integers exactly.
 * Used by the interop tests, which compare against numpy / safetensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_readers.h"
#include "dump_common.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dump_tensors FILE\n");
        return 2;
    }
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    if (dlor_read_weights(argv[1], &l, &err) != DLOR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t k = 0; k < l.count; k++) {
        const dlor_tensor *t = &l.items[k];
        dump_print_tensor(t);
    }
    for (size_t k = 0; k < l.meta_count; k++)
    {
        printf("{\"meta_key\": ");
        dump_print_str(l.meta_keys[k]);
        printf(", \"meta_value\": ");
        dump_print_str(l.meta_vals[k]);
        printf("}\n");
    }
    dlor_tensor_list_free(&l);
    return 0;
}
