/* cmd_merge.c - dlor merge: joins the parts of a conversion split with
 * convert --shard I/N (lib/convert/shard.c). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "opts.h"
#include "shard.h"

static const dlor_optdef merge_defs[] = {
    {"output", 'o', "OUT.dlor", "the merged file (required; written atomically; '-': standard output)"},
    {"compress", 0, NULL, "deflate the merged file (as convert --compress)"},
    {NULL, 0, NULL, NULL}};

static const char *merge_usage = "PART.dlor... -o OUT.dlor [--compress]\n\n"
                                 "Joins the parts written by 'dlor convert --shard I/N' (all N of them, in any\n"
                                 "order) into the file a single 'dlor convert' with the same options writes,\n"
                                 "byte for byte. Refuses parts of different sources, options or shard counts,\n"
                                 "missing or repeated shards, and layers claimed twice.";

int dlor_cmd_merge(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("merge", merge_usage, merge_defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    const char *out = dlor_opt(&o, merge_defs, "output");
    if (o.npos < 1 || !out) {
        fprintf(stderr, "dlor merge: expected the parts and -o OUT.dlor (see 'dlor merge --help')\n");
        return 2;
    }
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_BINARY}};
    if ((rc = dlor_cmd_check_outputs("merge", outputs, 1, o.pos, (size_t)o.npos)) != 0) return rc;
    size_t np = (size_t)o.npos;
    dlor_error err;
    dlor_merged m;
    dlor_status st = dlor_merge_files(o.pos, np, &m, &err);
    if (st == DLOR_OK)
        st = dlor_opt(&o, merge_defs, "compress") ? dlor_container_write_deflated(out, &m.merged, &err)
                                                  : dlor_container_write(out, &m.merged, &err);
    size_t nl = m.merged.nlayers;
    dlor_merged_free(&m);
    if (st != DLOR_OK) return dlor_cmd_fail("merge", &err);
    fprintf(stderr, "wrote %s: %zu parts, %zu layers\n", strcmp(out, "-") ? out : "standard output", np, nl);
    return 0;
}
