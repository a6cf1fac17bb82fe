/* fuzz_plan - property: the plan file parser (convert --plan) never crashes or
 * reads outside the input; it returns rules whose names are non-empty and
 * whose values are in range, or a clean one-line usage error naming a line,
 * and every rule it returns prints as a plan line that parses back to itself. */
#include <string.h>

#include "convert_spec.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_spec_rules rs = {NULL, 0};
    dlor_error err;
    dlor_status st = dlor_spec_parse_plan((const char *)data, size, "fuzz.plan", &rs, &err);
    if (st != DLOR_OK) {
        DLF_REQUIRE(st == DLOR_E_USAGE || st == DLOR_E_NOMEM, "plan: status %d", (int)st);
        DLF_REQUIRE(err.msg[0] && !strchr(err.msg, '\n'), "plan: message '%s'", err.msg);
        DLF_REQUIRE(strncmp(err.msg, "fuzz.plan:", 10) == 0, "plan: message names no line: '%s'", err.msg);
    }
    for (size_t i = 0; st == DLOR_OK && i < rs.n; i++) {
        const dlor_spec_rule *r = &rs.r[i];
        DLF_REQUIRE(r->glob[0] && r->line >= 1, "plan: rule %zu has no name or line", i);
        DLF_REQUIRE(!(r->keys & DLOR_SPEC_RANK) || r->v.rank >= 1, "plan: rank %lld", (long long)r->v.rank);
        DLF_REQUIRE(!(r->keys & DLOR_SPEC_TOL) || r->v.tol > 0, "plan: tol %g", r->v.tol);
        /* a rule with every key set prints and parses back to the same values */
        if ((r->keys & (DLOR_SPEC_METHOD | DLOR_SPEC_DTYPE)) == (DLOR_SPEC_METHOD | DLOR_SPEC_DTYPE) &&
            r->v.form != DLOR_FORM_DENSE && strlen(r->glob) < 512) {
            char line[1024];
            dlor_layer_spec s = r->v;
            if (!(r->keys & DLOR_SPEC_RANK)) s.rank = 0;
            if (!(r->keys & DLOR_SPEC_TOL)) s.tol = 0;
            dlor_spec_line(r->glob, &s, line, sizeof line);
            dlor_spec_rules back = {NULL, 0};
            dlor_error e2;
            DLF_REQUIRE(dlor_spec_parse_plan(line, strlen(line), "line", &back, &e2) == DLOR_OK && back.n == 1,
                        "plan: '%s' does not parse back: %s", line, e2.msg);
            DLF_REQUIRE(strcmp(back.r[0].glob, r->glob) == 0 && back.r[0].v.form == s.form &&
                            back.r[0].v.rank == s.rank && back.r[0].v.dtype == s.dtype &&
                            (s.tol == 0 || back.r[0].v.tol == s.tol || (back.r[0].v.tol > s.tol * (1 - 1e-8) &&
                                                                         back.r[0].v.tol < s.tol * (1 + 1e-8))),
                        "plan: '%s' parses back to other values", line);
            dlor_spec_rules_free(&back);
        }
    }
    dlor_spec_rules_free(&rs);
    return 0;
}
