/* html_spectrum_dump - prints the spectra the HTML report draws (lib/spectrum.c)
 * for every DLoR layer of a .dlor file, one JSON object per line:
 *   {"name", "method", "factors", "alpha", "k", "dense": [..], "rebuilt": [..],
 *    "lowrank_sv": [..], "identity_sv", "split_is_factor",
 *    "split": {"m", "n", "sigma": [..], "identity": [..], "lowrank": [..], "branch": [[..], ..]}}
 * with 17 significant digits, so tests can check them against numpy.
 * usage: html_spectrum_dump DENSE_SOURCE FILE.dlor */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_readers.h"
#include "dlor_spectrum.h"
#include "dlor_verify.h"
#include "dump_common.h"

static void print_array(const char *key, const double *v, int64_t n)
{
    printf(", \"%s\": [", key);
    for (int64_t i = 0; v && i < n; i++) printf("%s%.17g", i ? ", " : "", v[i]);
    printf("]");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: html_spectrum_dump DENSE_SOURCE FILE.dlor\n");
        return 2;
    }
    dlor_tensor_list src;
    dlor_container c;
    dlor_error err;
    int rc = 0;
    dlor_tensor_list_init(&src);
    dlor_container_init(&c);
    if (dlor_read_weights(argv[1], &src, &err) != DLOR_OK || dlor_container_read(argv[2], &c, &err) != DLOR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        dlor_tensor_list_free(&src);
        dlor_container_free(&c);
        return 1;
    }
    for (size_t i = 0; i < c.nlayers && rc == 0; i++) {
        const dlor_layer_desc *d = &c.layers[i];
        const dlor_tensor *w = dlor_tensor_list_find(&src, d->name);
        dlor_factored f;
        dlor_layer_spectrum s;
        double *wd = NULL;
        dlor_status st = DLOR_OK;
        memset(&s, 0, sizeof s);
        if (w && w->nelem == d->rows * d->cols) {
            wd = malloc(w->nelem * sizeof *wd);
            st = wd ? dlor_tensor_to_f64(w, wd, &err) : dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
        }
        if (st == DLOR_OK) st = dlor_layer_load(&c, d, &f, &err);
        if (st == DLOR_OK) {
            st = dlor_layer_spectrum_compute(&f, wd, &s, &err);
            dlor_factored_free(&f);
        }
        if (st != DLOR_OK) {
            fprintf(stderr, "%s: %s\n", d->name, err.msg);
            rc = 1;
        } else {
            printf("{\"name\": ");
            dump_print_str(d->name);
            printf(", \"method\": %d, \"factors\": %llu, \"alpha\": %.17g, \"k\": %lld", d->method,
                   (unsigned long long)d->factors, d->alpha, (long long)s.k);
            print_array("dense", s.dense, s.dense ? s.k : 0);
            print_array("rebuilt", s.rebuilt, s.k);
            print_array("lowrank_sv", s.lowrank_sv, s.n_lowrank);
            printf(", \"identity_sv\": %.17g, \"split_is_factor\": %d", s.identity_sv, s.split_is_factor);
            printf(", \"split\": {\"m\": %lld, \"n\": %lld", (long long)s.split.m, (long long)s.split.n);
            print_array("sigma", s.split.sigma, s.split.k);
            print_array("identity", s.split.identity, s.split.k);
            print_array("lowrank", s.split.lowrank, s.split.k);
            printf(", \"branch\": [");
            for (int64_t l = 0; l < s.split.branches; l++) {
                printf("%s[", l ? ", " : "");
                for (int64_t j = 0; j < s.split.k; j++)
                    printf("%s%.17g", j ? ", " : "", s.split.branch[l * s.split.k + j]);
                printf("]");
            }
            printf("]}}\n");
        }
        dlor_layer_spectrum_free(&s);
        free(wd);
    }
    dlor_tensor_list_free(&src);
    dlor_container_free(&c);
    return rc;
}
