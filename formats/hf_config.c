/* hf_config.c - reading the fields of a Hugging Face config.json (see dlor_hf.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_hf.h"
#include "dlor_json.h"

enum { F_INT, F_FLOAT, F_STRING, F_BOOL, F_NULLABLE_ANY };

typedef struct field {
    const char *key;
    int kind;
    size_t off;     /* offset of the member in dlor_hf_config */
    size_t cap;     /* F_STRING: the buffer's size */
} field;

#define INT_F(name) {#name, F_INT, offsetof(dlor_hf_config, name), 0}
#define FLOAT_F(name) {#name, F_FLOAT, offsetof(dlor_hf_config, name), 0}
#define STR_F(name) {#name, F_STRING, offsetof(dlor_hf_config, name), sizeof(((dlor_hf_config *)0)->name)}

static const field fields[] = {
    STR_F(model_type),
    STR_F(hidden_act),
    STR_F(position_embedding_type),
    INT_F(hidden_size),
    INT_F(num_hidden_layers),
    INT_F(num_attention_heads),
    INT_F(num_key_value_heads),
    INT_F(intermediate_size),
    INT_F(vocab_size),
    INT_F(max_position_embeddings),
    INT_F(type_vocab_size),
    INT_F(head_dim),
    FLOAT_F(layer_norm_eps),
    FLOAT_F(rms_norm_eps),
    FLOAT_F(rope_theta),
    {"tie_word_embeddings", F_BOOL, offsetof(dlor_hf_config, tie_word_embeddings), 0},
    {"rope_scaling", F_NULLABLE_ANY, offsetof(dlor_hf_config, rope_scaling), 0},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* What a value looks like in a message: the number's text, "string \"...\"" or its kind. */
static const char *describe(const dlor_json *p, dlor_json_tok tok, char *buf, size_t n)
{
    if (tok == DLOR_JSON_NUMBER) snprintf(buf, n, "%.*s", (int)(p->num_len < 40 ? p->num_len : 40), p->src + p->tok_pos);
    else if (tok == DLOR_JSON_STRING) snprintf(buf, n, "the string \"%.40s\"", p->str);
    else snprintf(buf, n, "%s %s", tok == DLOR_JSON_OBJ_BEGIN || tok == DLOR_JSON_ARR_BEGIN ? "an" : "a",
                  dlor_json_tok_kind(tok));
    return buf;
}

static dlor_status read_value(dlor_json *p, dlor_json_tok tok, const field *f, const char *what, dlor_hf_config *c,
                              dlor_error *err)
{
    char *base = (char *)c + f->off, got[96];
    if (tok == DLOR_JSON_NULL) return DLOR_OK; /* null: as if absent */
    switch (f->kind) {
    case F_INT:
        if (tok != DLOR_JSON_NUMBER || !p->num_is_uint || p->num_u > (uint64_t)INT32_MAX)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: %s must be an integer from 0 to 2147483647, not %s", what,
                             f->key, describe(p, tok, got, sizeof got));
        *(int64_t *)base = (int64_t)p->num_u;
        return DLOR_OK;
    case F_FLOAT: {
        char num[64];
        if (tok == DLOR_JSON_NUMBER && p->num_len < sizeof num) {
            memcpy(num, p->src + p->tok_pos, p->num_len);
            num[p->num_len] = 0;
            double v = strtod(num, NULL);
            if (isfinite(v)) {
                *(double *)base = v;
                return DLOR_OK;
            }
        }
        return dlor_fail(err, DLOR_E_FORMAT, "%s: %s must be a finite number, not %s", what, f->key,
                         describe(p, tok, got, sizeof got));
    }
    case F_STRING:
        if (tok != DLOR_JSON_STRING)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: %s must be a string, not %s", what, f->key,
                             describe(p, tok, got, sizeof got));
        if (p->str_len >= f->cap || strlen(p->str) != p->str_len)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: %s is not a name dlor knows (%zu bytes)", what, f->key,
                             p->str_len);
        memcpy(base, p->str, p->str_len + 1);
        return DLOR_OK;
    case F_BOOL:
        if (tok != DLOR_JSON_TRUE && tok != DLOR_JSON_FALSE)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: %s must be true or false, not %s", what, f->key,
                             describe(p, tok, got, sizeof got));
        *(int *)base = tok == DLOR_JSON_TRUE;
        return DLOR_OK;
    default: /* present and not null; its content is skipped */
        *(int *)base = 1;
        return dlor_json_skip(p, tok, err);
    }
}

dlor_status dlor_hf_config_parse(const unsigned char *text, size_t len, const char *what, dlor_hf_config *out,
                                 dlor_error *err)
{
    dlor_hf_config c;
    dlor_json p;
    dlor_json_tok tok;
    unsigned char seen[NFIELDS] = {0};
    memset(&c, 0, sizeof c);
    c.hidden_size = c.num_hidden_layers = c.num_attention_heads = c.num_key_value_heads = c.intermediate_size =
        c.vocab_size = c.max_position_embeddings = c.type_vocab_size = c.head_dim = -1;
    c.layer_norm_eps = c.rms_norm_eps = c.rope_theta = NAN;
    c.tie_word_embeddings = -1;
    dlor_json_init(&p, text, len);
    dlor_status st = dlor_json_next(&p, &tok, err);
    if (st == DLOR_OK && tok != DLOR_JSON_OBJ_BEGIN)
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: the top value must be an object, not %s", what,
                       dlor_json_tok_kind(tok));
    while (st == DLOR_OK) {
        if ((st = dlor_json_next(&p, &tok, err)) != DLOR_OK) break;
        if (tok == DLOR_JSON_OBJ_END) {
            if ((st = dlor_json_next(&p, &tok, err)) == DLOR_OK && tok != DLOR_JSON_END)
                st = dlor_fail(err, DLOR_E_FORMAT, "%s: text after the top object", what); /* not reached: the parser refuses it */
            break;
        }
        size_t k = 0;
        /* keys with NUL bytes match no field */
        while (k < NFIELDS && !(strlen(p.str) == p.str_len && strcmp(p.str, fields[k].key) == 0)) k++;
        if (k < NFIELDS && seen[k]++) {
            st = dlor_fail(err, DLOR_E_FORMAT, "%s: %s is given twice", what, fields[k].key);
            break;
        }
        if ((st = dlor_json_next(&p, &tok, err)) != DLOR_OK) break;
        st = k < NFIELDS ? read_value(&p, tok, &fields[k], what, &c, err) : dlor_json_skip(&p, tok, err);
    }
    if (st != DLOR_OK && err && strncmp(err->msg, "invalid JSON", 12) == 0) dlor_error_prefix(err, what);
    dlor_json_free(&p);
    if (st == DLOR_OK) *out = c;
    return st;
}
