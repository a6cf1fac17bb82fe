/* verify_tokens_run.c - verify's end-to-end check of a model of token ids: the dense
 * and DLoR models on the same sequences, compared on their first output. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_splitmix.h"
#include "dlor_verify.h"
#include "e2e_check.h"
#include "model_load.h"
#include "verify_result.h"

/* Output 0 of m on every sequence of tok, float32, into y ([n, S, f] or [n, f]). */
static dlor_status run_tokens(const dlor_model *m, const dlor_tokens *tok, float *y, uint64_t per, dlor_error *err)
{
    const size_t batch = 16;
    size_t need = dlor_model_scratch_bytes(m, batch, (size_t)tok->seq, 1, DLOR_RT_F32);
    void *scratch = NULL;
    if (need == 0 || posix_memalign(&scratch, 64, need) != 0)
        return dlor_fail(err, DLOR_E_NOMEM, "cannot allocate scratch for %zu sequences of %llu tokens", batch,
                         (unsigned long long)tok->seq);
    dlor_status st = DLOR_OK;
    for (uint64_t i = 0; i < tok->n && st == DLOR_OK; i += batch) {
        dlor_run r;
        dlor_image_error ie;
        void *ys[1] = {y + i * per};
        memset(&r, 0, sizeof r);
        r.batch = (size_t)(tok->n - i < batch ? tok->n - i : batch);
        r.seq = (size_t)tok->seq;
        r.ids = tok->ids + i * tok->seq;
        r.mask = tok->mask ? tok->mask + i * tok->seq : NULL;
        r.type_ids = tok->type_ids ? tok->type_ids + i * tok->seq : NULL;
        r.ids_dtype = DLOR_RT_I64;
        r.y = ys;
        r.ny = 1;
        if (dlor_model_run(m, &r, DLOR_RT_F32, scratch, need, NULL, &ie) != 0)
            st = dlor_fail(err, DLOR_E_NUMERIC, "forward pass failed: %s", ie.msg);
    }
    free(scratch);
    return st;
}

/* n sequences of seq ids drawn uniformly from [0, vocab) (splitmix64), all valid. */
static dlor_status random_tokens(uint64_t seed, uint64_t n, uint64_t seq, uint64_t vocab, dlor_tokens *tok,
                                 dlor_error *err)
{
    memset(tok, 0, sizeof *tok);
    tok->ids = malloc((n * seq > 0 ? n * seq : 1) * sizeof *tok->ids);
    if (!tok->ids) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    uint64_t s = seed;
    for (uint64_t i = 0; i < n * seq; i++) tok->ids[i] = (int64_t)(dlor_splitmix64(&s) % vocab);
    tok->n = n;
    tok->seq = seq;
    return DLOR_OK;
}

dlor_status dlor_verify_tokens_end_to_end(const dlor_model *dense, const dlor_model *dl, const char *xin,
                                          uint64_t nsamples, uint64_t seed, verify_result *r, dlor_error *err)
{
    dlor_tokens tok;
    int per_token, per_token_d;
    uint64_t f, fd;
    dlor_status st;
    dlor_model_output_at(dl, 0, NULL, NULL, &per_token, &f);
    dlor_model_output_at(dense, 0, NULL, NULL, &per_token_d, &fd);
    if (per_token != per_token_d || f != fd)
        return dlor_fail(err, DLOR_E_FORMAT, "the dense and DLoR models' first outputs differ in shape");
    if (xin) {
        st = dlor_load_tokens(xin, dl, &tok, err);
        r->e2e_inputs = dlor_basename(xin);
    } else {
        uint64_t seq = dl->max_seq && dl->max_seq < 16 ? dl->max_seq : 16;
        st = dl->vocab[DLOR_INPUT_IDS] ? random_tokens(seed, nsamples, seq, dl->vocab[DLOR_INPUT_IDS], &tok, err)
                                       : dlor_fail(err, DLOR_E_FORMAT, "the model's token table has no rows");
        r->e2e_inputs = "random token";
    }
    if (st != DLOR_OK) return st;
    uint64_t per = (per_token ? tok.seq : 1) * f, total = tok.n * per;
    float *yd = malloc((total ? total : 1) * sizeof *yd), *yl = malloc((total ? total : 1) * sizeof *yl);
    double *a = malloc((total ? total : 1) * sizeof *a), *b = malloc((total ? total : 1) * sizeof *b);
    if (!yd || !yl || !a || !b) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for %llu outputs",
                                               (unsigned long long)total);
    if (st == DLOR_OK) st = run_tokens(dense, &tok, yd, per, err);
    if (st == DLOR_OK) st = run_tokens(dl, &tok, yl, per, err);
    for (uint64_t i = 0; st == DLOR_OK && i < total; i++) {
        a[i] = yd[i];
        b[i] = yl[i];
    }
    if (st == DLOR_OK) st = dlor_verify_compare_outputs(a, b, tok.n, per, NULL, r, err);
    if (st == DLOR_OK && per_token) {
        r->e2e_seq = tok.seq;
        uint64_t real = 0;
        r->e2e_tokens_max = 0;
        for (uint64_t i = 0; i < tok.n; i++) {
            uint64_t k = 0;
            for (uint64_t t = 0; t < tok.seq; t++) k += !tok.mask || tok.mask[i * tok.seq + t] != 0;
            real += k;
            if (k > r->e2e_tokens_max) r->e2e_tokens_max = k;
        }
        r->e2e_tokens_mean = tok.n ? (double)real / (double)tok.n : 0.0;
        /* logits over the token table: a decoder's next-token distributions; else hidden states */
        if (f == dl->vocab[DLOR_INPUT_IDS]) {
            r->e2e_tokens = 2;
            dlor_next_token_agreement(a, b, tok.mask, tok.n, tok.seq, f, &r->top1_agreement, &r->kl_mean,
                                      &r->e2e_positions);
        } else {
            r->e2e_tokens = 1;
            dlor_pooled_cosine(a, b, tok.mask, tok.n, tok.seq, f, &r->cosine_mean, &r->cosine_min);
        }
    }
    /* the cosine the tolerances of --min-cosine hold: the pooled one of hidden
     * states, else sample by sample over a whole output */
    if (st == DLOR_OK && r->e2e_tokens == 1) {
        r->e2e_min_cos = r->cosine_min;
        r->e2e_mean_cos = r->cosine_mean;
    } else if (st == DLOR_OK) {
        dlor_output_cosines(a, b, tok.n, per, &r->e2e_min_cos, &r->e2e_mean_cos);
    }
    free(yd);
    free(yl);
    free(a);
    free(b);
    dlor_tokens_free(&tok);
    return st;
}
