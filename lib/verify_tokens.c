/* verify_tokens.c - end-to-end figures for models of token ids (dlor_verify.h):
 * how close the DLoR model's hidden states and next-token distributions are to
 * the dense model's. */
#include <math.h>

#include "dlor_verify.h"

void dlor_pooled_cosine(const double *a, const double *b, const int64_t *mask, uint64_t n, uint64_t s, uint64_t f,
                        double *mean, double *min)
{
    double sum = 0, lo = INFINITY;
    for (uint64_t i = 0; i < n; i++) {
        double dot = 0, na = 0, nb = 0;
        for (uint64_t k = 0; k < f; k++) {
            double pa = 0, pb = 0;
            uint64_t cnt = 0;
            for (uint64_t t = 0; t < s; t++) {
                if (mask && !mask[i * s + t]) continue;
                pa += a[(i * s + t) * f + k];
                pb += b[(i * s + t) * f + k];
                cnt++;
            }
            /* a row without a valid token pools to zero, as the runtime's POOL does */
            if (cnt) pa /= (double)cnt, pb /= (double)cnt;
            dot += pa * pb;
            na += pa * pa;
            nb += pb * pb;
        }
        double c = na > 0 && nb > 0 ? dot / (sqrt(na) * sqrt(nb)) : (na == nb ? 1.0 : 0.0);
        if (isnan(dot)) c = NAN;
        sum += c;
        if (!(c >= lo)) lo = c; /* NaN sticks */
    }
    *mean = n ? sum / (double)n : NAN;
    *min = n ? lo : NAN;
}

/* log-sum-exp of x[0..v) */
static double lse(const double *x, uint64_t v)
{
    double m = -INFINITY, s = 0;
    for (uint64_t k = 0; k < v; k++)
        if (x[k] > m) m = x[k];
    if (!isfinite(m)) return m;
    for (uint64_t k = 0; k < v; k++) s += exp(x[k] - m);
    return m + log(s);
}

static uint64_t argmax(const double *x, uint64_t v)
{
    uint64_t j = 0;
    for (uint64_t k = 1; k < v; k++)
        if (x[k] > x[j]) j = k;
    return j;
}

void dlor_next_token_agreement(const double *a, const double *b, const int64_t *mask, uint64_t n, uint64_t s,
                               uint64_t v, double *top1, double *kl_mean, uint64_t *positions)
{
    uint64_t pos = 0, agree = 0;
    double kl = 0;
    for (uint64_t i = 0; i < n * s; i++) {
        if (mask && !mask[i]) continue;
        const double *p = a + i * v, *q = b + i * v;
        double lp = lse(p, v), lq = lse(q, v), d = 0;
        for (uint64_t k = 0; k < v; k++) {
            double pk = exp(p[k] - lp);
            if (pk > 0) d += pk * ((p[k] - lp) - (q[k] - lq));
        }
        kl += d;
        agree += argmax(p, v) == argmax(q, v);
        pos++;
    }
    *top1 = pos ? (double)agree / (double)pos : NAN;
    *kl_mean = pos ? kl / (double)pos : NAN;
    *positions = pos;
}
