/* convert_verify.c - a program that knows libdlor only through <dlor.h>:
 * converts a safetensors model (exact mul form), writes and verifies the
 * .dlor file, and prints what verify measured, one "key value" per line,
 * for tests/check_install.sh to hold against its bounds. A second
 * conversion is cancelled from its progress callback.
 *
 * usage: convert_verify MODEL.safetensors ACTIVATION OUT.dlor */
#include <dlor.h>
#include <stdio.h>

static int count_calls(void *ctx, const dlor_progress *p)
{
    (void)p;
    ++*(int *)ctx;
    return 0;
}

static int cancel_first(void *ctx, const dlor_progress *p)
{
    (void)ctx;
    return p->layer != NULL; /* stop before the first layer starts */
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: convert_verify MODEL.safetensors ACTIVATION OUT.dlor\n");
        return 2;
    }
    dlor_error err;
    dlor_file *src = NULL;
    dlor_conversion *conv = NULL;
    dlor_report *rep = NULL;
    dlor_convert_options opt;
    int calls = 0, rc = 1;
    dlor_convert_options_init(&opt);
    opt.progress = count_calls;
    opt.progress_ctx = &calls;
    if (dlor_open(argv[1], argv[2], &src, &err) != DLOR_OK || dlor_convert(src, &opt, &conv, &err) != DLOR_OK ||
        dlor_write(conv, argv[3], 0, &err) != DLOR_OK || dlor_verify(argv[1], argv[3], NULL, &rep, &err) != DLOR_OK) {
        fprintf(stderr, "convert_verify: %s (%s)\n", err.msg, dlor_strerror(err.code));
        goto done;
    }
    printf("version %s\n", dlor_version());
    printf("format %s\n", dlor_file_format(src));
    printf("graph_ops %zu\n", dlor_file_graph_ops(src));
    printf("layers %zu\n", dlor_conversion_layers(conv));
    printf("progress_calls %d\n", calls);
    printf("max_rel_error %.9g\n", dlor_report_max_rel_error(rep));
    printf("e2e_samples %llu\n", (unsigned long long)dlor_report_samples(rep));
    printf("e2e_max_abs_error %.9g\n", dlor_report_e2e_max_abs_error(rep));
    printf("pass %d\n", dlor_report_pass(rep));

    dlor_conversion *stopped = NULL;
    opt.progress = cancel_first;
    dlor_status st = dlor_convert(src, &opt, &stopped, &err);
    printf("cancelled %s\n", st == DLOR_E_STOPPED && !stopped ? "yes" : "no");
    rc = 0;
done:
    dlor_report_free(rep);
    dlor_conversion_free(conv);
    dlor_close(src);
    return rc;
}
