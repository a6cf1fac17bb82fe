/* verdict.c - verify's verdict (verdict.h). */
#include "verdict.h"

#include <math.h>
#include <string.h>

void dlor_verify_verdict(verify_result *r, int inputs, double min_cos, double max_rel)
{
    r->unchecked_layers = 0;
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        int compressed = L->method && L->form && strcmp(L->form, "mul") != 0 && strcmp(L->form, "add") != 0;
        if (compressed && isnan(L->tol)) r->unchecked_layers = 1;
    }
    if (inputs && !r->net && r->e2e_samples) {
        r->req_min_cos = !isnan(min_cos) ? min_cos : r->unchecked_layers ? DLOR_VERIFY_MIN_COSINE : NAN;
        r->req_max_rel = max_rel;
        r->e2e_checked = !isnan(r->req_min_cos) || !isnan(r->req_max_rel);
        if (!isnan(r->req_min_cos) && !(r->e2e_min_cos >= r->req_min_cos)) r->pass = 0;
        if (!isnan(r->req_max_rel) && !(r->e2e_max_rel <= r->req_max_rel)) r->pass = 0;
    }
    if (!r->pass) r->verdict = "fail";
    else if (r->unchecked_layers && !r->e2e_checked && !r->net) r->verdict = "unchecked";
    else r->verdict = "pass";
}
