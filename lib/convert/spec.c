/* spec.c - per-layer targets: --set rules and plan files (convert_spec.h). */
#define _POSIX_C_SOURCE 200809L
#include "convert_spec.h"
#include "dlor_fileio.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const form_names[] = {"", "mul", "add", "lowrank", "svd", "auto", "dense", "qlr"};

dlor_form_kind dlor_form_from_name(const char *s)
{
    for (int i = 1; i <= 7; i++)
        if (strcmp(s, form_names[i]) == 0) return (dlor_form_kind)i;
    return (dlor_form_kind)0;
}

const char *dlor_form_name(dlor_form_kind f)
{
    return f >= 1 && f <= 7 ? form_names[f] : "?";
}

int dlor_form_is_compressed(dlor_form_kind f)
{
    return f == DLOR_FORM_LOWRANK || f == DLOR_FORM_SVD || f == DLOR_FORM_AUTO || f == DLOR_FORM_QLR;
}

void dlor_spec_rules_free(dlor_spec_rules *rs)
{
    for (size_t i = 0; i < rs->n; i++) free(rs->r[i].glob);
    free(rs->r);
    rs->r = NULL;
    rs->n = 0;
}

/* Parses one key=value into rule; returns NULL or the reason it is refused. */
static const char *parse_kv(const char *kv, size_t len, dlor_spec_rule *rule, char *why, size_t wlen)
{
    char buf[128];
    const char *eq = memchr(kv, '=', len);
    if (!eq || eq == kv) {
        snprintf(why, wlen, "'%.*s' is not key=value", (int)len, kv);
        return why;
    }
    size_t kl = (size_t)(eq - kv), vl = len - kl - 1;
    if (vl == 0 || vl >= sizeof buf) {
        snprintf(why, wlen, "key '%.*s' has %s value", (int)kl, kv, vl ? "too long a" : "no");
        return why;
    }
    memcpy(buf, eq + 1, vl);
    buf[vl] = 0;
    char *end;
    if (kl == 6 && memcmp(kv, "method", 6) == 0) {
        dlor_form_kind f = dlor_form_from_name(buf);
        if (!f) {
            snprintf(why, wlen, "method must be mul, add, lowrank, svd, auto, qlr or dense, not '%s'", buf);
            return why;
        }
        rule->v.form = f;
        rule->keys |= DLOR_SPEC_METHOD;
    } else if (kl == 4 && memcmp(kv, "rank", 4) == 0) {
        errno = 0;
        long long r = strtoll(buf, &end, 10);
        if (*end || errno || r < 1 || !isdigit((unsigned char)buf[0])) {
            snprintf(why, wlen, "rank must be a positive integer, not '%s'", buf);
            return why;
        }
        rule->v.rank = r;
        rule->v.tol = 0;
        rule->keys = (rule->keys | DLOR_SPEC_RANK) & ~DLOR_SPEC_TOL;
    } else if (kl == 3 && memcmp(kv, "tol", 3) == 0) {
        errno = 0;
        double t = strtod(buf, &end);
        if (*end || errno || !(t > 0) || !isfinite(t)) {
            snprintf(why, wlen, "tol must be a positive number, not '%s'", buf);
            return why;
        }
        rule->v.tol = t;
        rule->v.rank = 0;
        rule->keys = (rule->keys | DLOR_SPEC_TOL) & ~DLOR_SPEC_RANK;
    } else if (kl == 5 && memcmp(kv, "dtype", 5) == 0) {
        dlor_dtype dt = dlor_dtype_from_name(buf);
        if (!dlor_dtype_is_weight(dt)) { /* the dtypes --dtype takes, with its meaning */
            snprintf(why, wlen, "dtype must be f32, f64, f16, bf16, q8 or q4, not '%s'", buf);
            return why;
        }
        rule->v.dtype = dt;
        rule->keys |= DLOR_SPEC_DTYPE;
    } else {
        snprintf(why, wlen, "unknown key '%.*s' (keys: method, rank, tol, dtype)", (int)kl, kv);
        return why;
    }
    return NULL;
}

static dlor_status push(dlor_spec_rules *rs, dlor_spec_rule *rule, const char *glob, size_t glen, dlor_error *err)
{
    dlor_spec_rule *r = realloc(rs->r, (rs->n + 1) * sizeof *r);
    if (!r) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    rs->r = r;
    rule->glob = malloc(glen + 1);
    if (!rule->glob) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    memcpy(rule->glob, glob, glen);
    rule->glob[glen] = 0;
    rs->r[rs->n++] = *rule;
    return DLOR_OK;
}

dlor_status dlor_spec_parse_set(const char *arg, dlor_spec_rules *rs, dlor_error *err)
{
    const char *colon = strrchr(arg, ':');
    char why[200];
    if (!colon || colon == arg || !colon[1])
        return dlor_fail(err, DLOR_E_USAGE, "--set takes GLOB:key=value[,key=value...], not '%s'", arg);
    dlor_spec_rule rule;
    memset(&rule, 0, sizeof rule);
    for (const char *p = colon + 1; *p;) {
        size_t len = strcspn(p, ",");
        if (parse_kv(p, len, &rule, why, sizeof why))
            return dlor_fail(err, DLOR_E_USAGE, "--set '%s': %s", arg, why);
        p += len;
        if (*p) p++;
    }
    return push(rs, &rule, arg, (size_t)(colon - arg), err);
}

dlor_status dlor_spec_parse_plan(const char *text, size_t len, const char *path, dlor_spec_rules *rs,
                                 dlor_error *err)
{
    char line[4096], why[200];
    int ln = 0;
    size_t first = rs->n, at = 0;
    dlor_status st = DLOR_OK;
    while (st == DLOR_OK && at < len) {
        ln++;
        const char *nl = memchr(text + at, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - (text + at)) : len - at;
        if (ll >= sizeof line) {
            st = dlor_fail(err, DLOR_E_USAGE, "%s:%d: line longer than %zu bytes", path, ln, sizeof line - 1);
            break;
        }
        if (memchr(text + at, 0, ll)) {
            st = dlor_fail(err, DLOR_E_USAGE, "%s:%d: a NUL byte: not a plan file", path, ln);
            break;
        }
        memcpy(line, text + at, ll);
        line[ll] = 0;
        at += ll + (nl != NULL);
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        size_t nlen = strcspn(p, " \t\r\n\v\f");
        const char *name = p;
        if (memchr(name, '=', nlen)) {
            st = dlor_fail(err, DLOR_E_USAGE, "%s:%d: a line starts with the layer's name, not '%.*s'", path, ln,
                           (int)nlen, name);
            break;
        }
        dlor_spec_rule rule;
        memset(&rule, 0, sizeof rule);
        rule.line = ln;
        p += nlen;
        for (;;) {
            while (isspace((unsigned char)*p)) p++;
            if (!*p) break;
            size_t kl = strcspn(p, " \t\r\n\v\f");
            if (parse_kv(p, kl, &rule, why, sizeof why)) {
                st = dlor_fail(err, DLOR_E_USAGE, "%s:%d: layer '%.*s': %s", path, ln, (int)nlen, name, why);
                break;
            }
            p += kl;
        }
        for (size_t i = first; st == DLOR_OK && i < rs->n; i++)
            if (strlen(rs->r[i].glob) == nlen && memcmp(rs->r[i].glob, name, nlen) == 0)
                st = dlor_fail(err, DLOR_E_USAGE, "%s:%d: layer '%.*s' is already on line %d", path, ln, (int)nlen,
                               name, rs->r[i].line);
        if (st == DLOR_OK) st = push(rs, &rule, name, nlen, err);
    }
    return st;
}

#define PLAN_MAX_BYTES (64u << 20)

dlor_status dlor_spec_read_plan(const char *path, dlor_spec_rules *rs, dlor_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    dlor_status st = dlor_file_read(path, PLAN_MAX_BYTES, &buf, &len, err);
    if (st != DLOR_OK) return st;
    st = dlor_spec_parse_plan((const char *)buf, len, path, rs, err);
    free(buf);
    return st;
}

void dlor_spec_apply(const dlor_spec_rules *rs, const char *name, dlor_layer_spec *s, int *matched)
{
    for (size_t i = 0; i < rs->n; i++) {
        const dlor_spec_rule *r = &rs->r[i];
        if (r->line ? strcmp(r->glob, name) != 0 : fnmatch(r->glob, name, 0) != 0) continue;
        if (matched) matched[i] = 1;
        if (r->keys & DLOR_SPEC_METHOD) s->form = r->v.form;
        if (r->keys & DLOR_SPEC_RANK) {
            s->rank = r->v.rank;
            s->tol = 0;
        }
        if (r->keys & DLOR_SPEC_TOL) {
            s->tol = r->v.tol;
            s->rank = 0;
        }
        if (r->keys & DLOR_SPEC_DTYPE) s->dtype = r->v.dtype;
    }
}

dlor_status dlor_spec_check(const char *name, const dlor_layer_spec *s, int have_budget, dlor_error *err)
{
    if (!dlor_form_is_compressed(s->form)) {
        if (s->tol > 0 && s->form != DLOR_FORM_DENSE)
            return dlor_fail(err, DLOR_E_USAGE, "layer '%s': tol goes with a compressed method (lowrank, svd, auto), "
                                                "not %s", name, dlor_form_name(s->form));
        return DLOR_OK;
    }
    if (s->rank <= 0 && s->tol <= 0 && !have_budget)
        return dlor_fail(err, DLOR_E_USAGE, "layer '%s': method %s needs a target: rank=R or tol=T (or the run's "
                                            "--budget)", name, dlor_form_name(s->form));
    return DLOR_OK;
}

const char *dlor_spec_line(const char *name, const dlor_layer_spec *s, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s method=%s", name, dlor_form_name(s->form));
    if (n > 0 && (size_t)n < len && s->form != DLOR_FORM_DENSE) {
        if (s->rank > 0) n += snprintf(buf + n, len - (size_t)n, " rank=%lld", (long long)s->rank);
        else if (s->tol > 0) n += snprintf(buf + n, len - (size_t)n, " tol=%.9g", s->tol);
        if (n > 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, " dtype=%s", dlor_dtype_name(s->dtype));
    }
    return buf;
}

int dlor_spec_same(const dlor_layer_spec *a, const dlor_layer_spec *b)
{
    return a->form == b->form && a->rank == b->rank && a->tol == b->tol && a->budget == b->budget &&
           a->dtype == b->dtype;
}
