/* cmd_export_c.c - dlor export-c: a .dlor image as a C header for flash. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "c_header.h"
#include "cost_report.h"
#include "dlor_container.h"
#include "dlor_fileio.h"
#include "dlor_host.h"
#include "dlor_readers.h"
#include "dlor_runtime.h"
#include "opts.h"

static const dlor_optdef defs[] = {
    {"output", 'o', "model.h", "header to write (required; written atomically; '-': standard output)"},
    {"name", 0, "NAME", "C identifier prefix (default: dlor_model)"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "MODEL.dlor -o model.h [--name NAME]\n\n"
                                "Writes the image as an aligned const byte array with its size, input and output\n"
                                "sizes and the scratch bytes a batch of one needs, for dlor_model_open() on a\n"
                                "device without a file system or an allocator.";

int dlor_cmd_export_c(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("export-c", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    const char *out = dlor_opt(&o, defs, "output"), *name = dlor_opt(&o, defs, "name");
    if (o.npos != 1 || !out) {
        fprintf(stderr, "dlor export-c: expected MODEL.dlor and -o model.h (see 'dlor export-c --help')\n");
        return 2;
    }
    if (!name) name = "dlor_model";
    if (!dlor_c_header_name_ok(name)) {
        fprintf(stderr, "dlor export-c: --name must be a C identifier of at most 64 characters, not '%s'\n", name);
        return 2;
    }
    const char *in = o.pos[0];
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_TEXT}};
    if ((rc = dlor_cmd_check_outputs("export-c", outputs, 1, &in, 1)) != 0) return rc;
    dlor_error err;
    unsigned char *buf;
    size_t len;
    if (strcmp(dlor_weights_format(in), "dlor") != 0) {
        fprintf(stderr, "dlor export-c: %s is not a .dlor file (convert it first)\n", in);
        return 1;
    }
    /* a compressed image is written out inflated: the device runtime has no zlib */
    if (dlor_image_load_file(in, &buf, &len, &err) != DLOR_OK) return dlor_cmd_fail("export-c", &err);
    dlor_model m;
    dlor_image_error ie;
    void *plan = NULL;
    int runnable = dlor_model_open_alloc(&m, buf, len, DLOR_IMAGE_CHECK_CRC, &plan, &ie) == 0;
    if (!runnable && ie.code != DLOR_RT_E_NOGRAPH) {
        free(buf);
        fprintf(stderr, "dlor export-c: %s: %s\n", in, ie.msg);
        return 1;
    }
    if (!runnable) fprintf(stderr, "dlor export-c: note: %s: %s\n", in, ie.msg);
    dlor_atomic_file af;
    dlor_status st = dlor_atomic_open(&af, out, &err);
    if (st == DLOR_OK) {
        FILE *f = af.fp;
        dlor_c_header_write(f, dlor_basename(in), name, buf, len, runnable ? &m : NULL, plan != NULL);
        if (ferror(f)) af.failed = 1;
        st = dlor_atomic_commit(&af, &err);
    }
    if (st == DLOR_OK && runnable) dlor_cost_print(stdout, "", &m, len);
    free(plan);
    free(buf);
    if (st != DLOR_OK) return dlor_cmd_fail("export-c", &err);
    return 0;
}
