/* hf_graph.c - the graphs of Hugging Face BERT and LLaMA models, built from
 * config.json and checked against the tensors (see dlor_hf.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dlor_hf.h"

typedef struct builder {
    const dlor_tensor_list *t;
    const char *cfg, *weights, *type;
    dlor_graph *g;
    dlor_error *err;
    int64_t layers;     /* num_hidden_layers, while a layer's tensors are read; else -1 */
    int bias_required;  /* linear layers have biases (bert) */
} builder;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static const char *name_of(char buf[320], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, 320, fmt, ap);
    va_end(ap);
    return buf;
}

/* Checks that tensor 'name' is a float tensor of shape [d0] (d1 < 0) or
 * [d0, d1]; 'fields' says which config.json fields give that shape. */
static dlor_status need(builder *b, const char *name, int64_t d0, int64_t d1, const char *fields)
{
    const dlor_tensor *x = dlor_tensor_list_find(b->t, name);
    uint64_t want[2] = {(uint64_t)d0, (uint64_t)d1};
    int nd = d1 < 0 ? 1 : 2;
    char got[96], exp[96];
    if (!x && b->layers >= 0)
        return dlor_fail(b->err, DLOR_E_FORMAT, "%s: no tensor '%s', which %s implies (num_hidden_layers %lld)",
                         b->weights, name, b->cfg, (long long)b->layers);
    if (!x)
        return dlor_fail(b->err, DLOR_E_FORMAT, "%s: no tensor '%s', which %s implies (%s)", b->weights, name, b->cfg,
                         fields);
    if (!dlor_dtype_is_float(x->dtype))
        return dlor_fail(b->err, DLOR_E_FORMAT, "%s: tensor '%s' is %s, not a float tensor", b->weights, name,
                         dlor_dtype_name(x->dtype));
    if (x->ndim != nd || x->dims[0] != want[0] || (nd == 2 && x->dims[1] != want[1]))
        return dlor_fail(b->err, DLOR_E_FORMAT, "%s: tensor '%s' is %s, but %s says %s (%s)", b->weights, name,
                         dlor_shape_str(x->dims, x->ndim, got, sizeof got), b->cfg,
                         dlor_shape_str(want, nd, exp, sizeof exp), fields);
    return DLOR_OK;
}

/* The first of two names that exists (LayerNorm weights are 'gamma'/'beta' in
 * old checkpoints), else the first. */
static const char *either(builder *b, const char *a, const char *alt) { return dlor_tensor_list_find(b->t, a) ? a : alt; }

/* A required positive integer field. */
static dlor_status need_field(builder *b, const char *key, int64_t v)
{
    if (v > 0) return DLOR_OK;
    if (v < 0) return dlor_fail(b->err, DLOR_E_FORMAT, "%s: no %s (a %s model needs it)", b->cfg, key, b->type);
    return dlor_fail(b->err, DLOR_E_FORMAT, "%s: %s is 0", b->cfg, key);
}

static dlor_status need_eps(builder *b, const char *key, double v)
{
    if (v > 0 && v < 1) return DLOR_OK;
    return dlor_fail(b->err, DLOR_E_FORMAT, "%s: %s must be between 0 and 1, not %g", b->cfg, key, v);
}

/* A linear layer PREFIX.weight [rows, cols], with PREFIX.bias [rows] when present. */
static dlor_status linear(builder *b, uint32_t x, const char *prefix, int64_t rows, int64_t cols, const char *fields,
                          uint32_t *out)
{
    char w[320], bias[320];
    dlor_status st = need(b, name_of(w, "%s.weight", prefix), rows, cols, fields);
    int has_bias = b->bias_required || dlor_tensor_list_find(b->t, name_of(bias, "%s.bias", prefix)) != NULL;
    name_of(bias, "%s.bias", prefix);
    if (st == DLOR_OK && has_bias) st = need(b, bias, rows, -1, fields);
    if (st == DLOR_OK) st = dlor_graph_linear(b->g, x, w, has_bias ? bias : NULL, out, b->err);
    return st;
}

/* LayerNorm PREFIX.{weight,bias} (or gamma, beta) of width h. */
static dlor_status layernorm(builder *b, uint32_t x, const char *prefix, int64_t h, double eps, uint32_t *out)
{
    char w1[320], w2[320], b1[320], b2[320];
    const char *w = either(b, name_of(w1, "%s.weight", prefix), name_of(w2, "%s.gamma", prefix));
    const char *bias = either(b, name_of(b1, "%s.bias", prefix), name_of(b2, "%s.beta", prefix));
    dlor_status st = need(b, w, h, -1, "hidden_size");
    if (st == DLOR_OK) st = need(b, bias, h, -1, "hidden_size");
    if (st == DLOR_OK) st = dlor_graph_layernorm(b->g, x, w, bias, eps, out, b->err);
    return st;
}

static int bert_act(const char *name, dlor_act *act)
{
    static const struct {
        const char *hf;
        dlor_act act;
    } acts[] = {{"gelu", DLOR_ACT_GELU_ERF},           {"gelu_new", DLOR_ACT_GELU_TANH},
                {"gelu_pytorch_tanh", DLOR_ACT_GELU_TANH}, {"gelu_fast", DLOR_ACT_GELU_TANH},
                {"relu", DLOR_ACT_RELU},               {"silu", DLOR_ACT_SILU},
                {"swish", DLOR_ACT_SILU},              {"tanh", DLOR_ACT_TANH}};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(name, acts[i].hf) == 0) {
            *act = acts[i].act;
            return 1;
        }
    return 0;
}

static dlor_status bert(builder *b, const dlor_hf_config *c, char *why, size_t why_len)
{
    dlor_act act = DLOR_ACT_GELU_ERF;
    const char *hidden_act = c->hidden_act[0] ? c->hidden_act : "gelu";
    if (!bert_act(hidden_act, &act)) {
        snprintf(why, why_len, "%s: hidden_act '%s' is not one dlor runs in a bert model (gelu, gelu_new, "
                               "gelu_pytorch_tanh, gelu_fast, relu, silu, tanh)", b->cfg, hidden_act);
        return DLOR_OK;
    }
    if (c->position_embedding_type[0] && strcmp(c->position_embedding_type, "absolute") != 0) {
        snprintf(why, why_len, "%s: position_embedding_type '%s' is not one dlor runs (absolute)", b->cfg,
                 c->position_embedding_type);
        return DLOR_OK;
    }
    int64_t H = c->hidden_size, L = c->num_hidden_layers, nh = c->num_attention_heads, I = c->intermediate_size;
    int64_t V = c->vocab_size, P = c->max_position_embeddings, T = c->type_vocab_size < 0 ? 2 : c->type_vocab_size;
    double eps = isnan(c->layer_norm_eps) ? 1e-12 : c->layer_norm_eps;
    dlor_status st = need_field(b, "hidden_size", H);
    if (st == DLOR_OK) st = need_field(b, "num_hidden_layers", L);
    if (st == DLOR_OK) st = need_field(b, "num_attention_heads", nh);
    if (st == DLOR_OK) st = need_field(b, "intermediate_size", I);
    if (st == DLOR_OK) st = need_field(b, "vocab_size", V);
    if (st == DLOR_OK) st = need_field(b, "max_position_embeddings", P);
    if (st == DLOR_OK) st = need_field(b, "type_vocab_size", T);
    if (st == DLOR_OK) st = need_eps(b, "layer_norm_eps", eps);
    if (st == DLOR_OK && H % nh)
        st = dlor_fail(b->err, DLOR_E_FORMAT, "%s: num_attention_heads %lld does not divide hidden_size %lld", b->cfg,
                       (long long)nh, (long long)H);
    if (st != DLOR_OK) return st;
    /* BertModel names its tensors 'embeddings...', a task model 'bert.embeddings...' */
    const char *pre = dlor_tensor_list_find(b->t, "embeddings.word_embeddings.weight") ? "" : "bert.";
    char n1[320], n2[320], n3[320];
    uint32_t ids, mask, types, w, p, ty, x, q, k, v, y;
    dlor_graph *g = b->g;
    dlor_error *err = b->err;
    if ((st = dlor_graph_input(g, "input_ids", DLOR_INPUT_IDS, 0, &ids, err)) != DLOR_OK) return st;
    if ((st = dlor_graph_input(g, "attention_mask", DLOR_INPUT_MASK, 0, &mask, err)) != DLOR_OK) return st;
    if ((st = dlor_graph_input(g, "token_type_ids", DLOR_INPUT_TYPE_IDS, 0, &types, err)) != DLOR_OK) return st;
    st = need(b, name_of(n1, "%sembeddings.word_embeddings.weight", pre), V, H, "vocab_size, hidden_size");
    if (st == DLOR_OK)
        st = need(b, name_of(n2, "%sembeddings.position_embeddings.weight", pre), P, H,
                  "max_position_embeddings, hidden_size");
    if (st == DLOR_OK)
        st = need(b, name_of(n3, "%sembeddings.token_type_embeddings.weight", pre), T, H,
                  "type_vocab_size, hidden_size");
    if (st == DLOR_OK) st = dlor_graph_embed(g, ids, n1, &w, err);
    if (st == DLOR_OK) st = dlor_graph_pos_embed(g, ids, n2, &p, err);
    if (st == DLOR_OK) st = dlor_graph_embed(g, types, n3, &ty, err);
    if (st == DLOR_OK) st = dlor_graph_add(g, w, p, &y, err);
    if (st == DLOR_OK) st = dlor_graph_add(g, y, ty, &y, err);
    if (st == DLOR_OK) st = layernorm(b, y, name_of(n1, "%sembeddings.LayerNorm", pre), H, eps, &x);
    b->bias_required = 1;
    for (int64_t i = 0; i < L && st == DLOR_OK; i++) {
        char a[320], l[320];
        b->layers = L;
        name_of(l, "%sencoder.layer.%lld.", pre, (long long)i);
        name_of(a, "%sattention.", l);
        dlor_attention at = {0};
        uint32_t h;
        st = linear(b, x, name_of(n1, "%sself.query", a), H, H, "hidden_size", &q);
        if (st == DLOR_OK) st = linear(b, x, name_of(n1, "%sself.key", a), H, H, "hidden_size", &k);
        if (st == DLOR_OK) st = linear(b, x, name_of(n1, "%sself.value", a), H, H, "hidden_size", &v);
        at.q = q, at.k = k, at.v = v, at.mask = mask, at.heads = at.kv_heads = (uint32_t)nh;
        if (st == DLOR_OK) st = dlor_graph_attention(g, &at, &y, err);
        if (st == DLOR_OK) st = linear(b, y, name_of(n1, "%soutput.dense", a), H, H, "hidden_size", &y);
        if (st == DLOR_OK) st = dlor_graph_add(g, y, x, &y, err);
        if (st == DLOR_OK) st = layernorm(b, y, name_of(n1, "%soutput.LayerNorm", a), H, eps, &h);
        if (st == DLOR_OK)
            st = linear(b, h, name_of(n1, "%sintermediate.dense", l), I, H, "intermediate_size, hidden_size", &y);
        if (st == DLOR_OK) st = dlor_graph_act(g, y, act, 0, &y, err);
        if (st == DLOR_OK) st = linear(b, y, name_of(n1, "%soutput.dense", l), H, I, "hidden_size, intermediate_size", &y);
        if (st == DLOR_OK) st = dlor_graph_add(g, y, h, &y, err);
        if (st == DLOR_OK) st = layernorm(b, y, name_of(n1, "%soutput.LayerNorm", l), H, eps, &x);
    }
    b->layers = -1;
    /* a layer past num_hidden_layers: the config describes another model */
    if (st == DLOR_OK &&
        dlor_tensor_list_find(b->t, name_of(n1, "%sencoder.layer.%lld.attention.self.query.weight", pre, (long long)L)))
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: tensor '%s' is a layer past %s's num_hidden_layers %lld", b->weights,
                       n1, b->cfg, (long long)L);
    if (st == DLOR_OK) st = dlor_graph_output(g, "last_hidden_state", x, err);
    if (st == DLOR_OK) st = dlor_graph_pool(g, x, mask, DLOR_POOL_MEAN, &y, err);
    if (st == DLOR_OK) st = dlor_graph_l2norm(g, y, 1e-12, &y, err);
    if (st == DLOR_OK) st = dlor_graph_output(g, "sentence_embedding", y, err);
    return st;
}

static dlor_status llama(builder *b, const dlor_hf_config *c, char *why, size_t why_len)
{
    if (c->hidden_act[0] && strcmp(c->hidden_act, "silu") != 0) {
        snprintf(why, why_len, "%s: hidden_act '%s' is not one dlor runs in a llama model (silu)", b->cfg,
                 c->hidden_act);
        return DLOR_OK;
    }
    if (c->rope_scaling) {
        snprintf(why, why_len, "%s: rope_scaling is set; dlor runs RoPE without scaling only", b->cfg);
        return DLOR_OK;
    }
    int64_t H = c->hidden_size, L = c->num_hidden_layers, nh = c->num_attention_heads, I = c->intermediate_size;
    int64_t V = c->vocab_size, nkv = c->num_key_value_heads < 0 ? nh : c->num_key_value_heads, d = c->head_dim;
    double eps = isnan(c->rms_norm_eps) ? 1e-6 : c->rms_norm_eps;
    double theta = isnan(c->rope_theta) ? 10000.0 : c->rope_theta;
    dlor_status st = need_field(b, "hidden_size", H);
    if (st == DLOR_OK) st = need_field(b, "num_hidden_layers", L);
    if (st == DLOR_OK) st = need_field(b, "num_attention_heads", nh);
    if (st == DLOR_OK) st = need_field(b, "num_key_value_heads", nkv);
    if (st == DLOR_OK) st = need_field(b, "intermediate_size", I);
    if (st == DLOR_OK) st = need_field(b, "vocab_size", V);
    if (st == DLOR_OK) st = need_eps(b, "rms_norm_eps", eps);
    if (st == DLOR_OK && !(theta > 1))
        st = dlor_fail(b->err, DLOR_E_FORMAT, "%s: rope_theta must be above 1, not %g", b->cfg, theta);
    if (st == DLOR_OK && d < 0 && H % nh)
        st = dlor_fail(b->err, DLOR_E_FORMAT, "%s: num_attention_heads %lld does not divide hidden_size %lld", b->cfg,
                       (long long)nh, (long long)H);
    if (st == DLOR_OK && nh % nkv)
        st = dlor_fail(b->err, DLOR_E_FORMAT, "%s: num_key_value_heads %lld does not divide num_attention_heads %lld",
                       b->cfg, (long long)nkv, (long long)nh);
    if (st != DLOR_OK) return st; /* nh may be 0 */
    if (d < 0) d = H / nh;
    if (d == 0 || d % 2)
        st = dlor_fail(b->err, DLOR_E_FORMAT, "%s: head_dim %lld is not a positive even number (RoPE rotates pairs)",
                       b->cfg, (long long)d);
    if (st != DLOR_OK) return st;
    /* LlamaForCausalLM names its tensors 'model....' and has a head; LlamaModel has neither */
    int base = !dlor_tensor_list_find(b->t, "model.embed_tokens.weight") && dlor_tensor_list_find(b->t, "embed_tokens.weight");
    const char *pre = base ? "" : "model.";
    char n1[320], emb[320], sq[96], skv[96];
    snprintf(sq, sizeof sq, "num_attention_heads %lld x head_dim %lld, hidden_size", (long long)nh, (long long)d);
    snprintf(skv, sizeof skv, "num_key_value_heads %lld x head_dim %lld, hidden_size", (long long)nkv, (long long)d);
    uint32_t ids, mask, x, n, q, k, v, y, h, m, gt, u;
    dlor_graph *g = b->g;
    dlor_error *err = b->err;
    if ((st = dlor_graph_input(g, "input_ids", DLOR_INPUT_IDS, 0, &ids, err)) != DLOR_OK) return st;
    if ((st = dlor_graph_input(g, "attention_mask", DLOR_INPUT_MASK, 0, &mask, err)) != DLOR_OK) return st;
    st = need(b, name_of(emb, "%sembed_tokens.weight", pre), V, H, "vocab_size, hidden_size");
    if (st == DLOR_OK) st = dlor_graph_embed(g, ids, emb, &x, err);
    for (int64_t i = 0; i < L && st == DLOR_OK; i++) {
        char l[320], a[320], mp[320];
        b->layers = L;
        name_of(l, "%slayers.%lld.", pre, (long long)i);
        name_of(a, "%sself_attn.", l);
        name_of(mp, "%smlp.", l);
        dlor_attention at = {0};
        st = need(b, name_of(n1, "%sinput_layernorm.weight", l), H, -1, "hidden_size");
        if (st == DLOR_OK) st = dlor_graph_rmsnorm(g, x, n1, eps, &n, err);
        if (st == DLOR_OK) st = linear(b, n, name_of(n1, "%sq_proj", a), nh * d, H, sq, &q);
        if (st == DLOR_OK) st = linear(b, n, name_of(n1, "%sk_proj", a), nkv * d, H, skv, &k);
        if (st == DLOR_OK) st = linear(b, n, name_of(n1, "%sv_proj", a), nkv * d, H, skv, &v);
        at.q = q, at.k = k, at.v = v, at.mask = mask, at.heads = (uint32_t)nh, at.kv_heads = (uint32_t)nkv;
        at.causal = 1, at.rope_theta = theta;
        if (st == DLOR_OK) st = dlor_graph_attention(g, &at, &y, err);
        if (st == DLOR_OK)
            st = linear(b, y, name_of(n1, "%so_proj", a), H, nh * d, "hidden_size, num_attention_heads x head_dim", &y);
        if (st == DLOR_OK) st = dlor_graph_add(g, y, x, &h, err);
        if (st == DLOR_OK) st = need(b, name_of(n1, "%spost_attention_layernorm.weight", l), H, -1, "hidden_size");
        if (st == DLOR_OK) st = dlor_graph_rmsnorm(g, h, n1, eps, &m, err);
        if (st == DLOR_OK) st = linear(b, m, name_of(n1, "%sgate_proj", mp), I, H, "intermediate_size, hidden_size", &gt);
        if (st == DLOR_OK) st = dlor_graph_act(g, gt, DLOR_ACT_SILU, 0, &gt, err);
        if (st == DLOR_OK) st = linear(b, m, name_of(n1, "%sup_proj", mp), I, H, "intermediate_size, hidden_size", &u);
        if (st == DLOR_OK) st = dlor_graph_mul(g, gt, u, &y, err);
        if (st == DLOR_OK) st = linear(b, y, name_of(n1, "%sdown_proj", mp), H, I, "hidden_size, intermediate_size", &y);
        if (st == DLOR_OK) st = dlor_graph_add(g, y, h, &x, err);
    }
    b->layers = -1;
    if (st == DLOR_OK && dlor_tensor_list_find(b->t, name_of(n1, "%slayers.%lld.self_attn.q_proj.weight", pre, (long long)L)))
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: tensor '%s' is a layer past %s's num_hidden_layers %lld", b->weights,
                       n1, b->cfg, (long long)L);
    if (st == DLOR_OK) st = need(b, name_of(n1, "%snorm.weight", pre), H, -1, "hidden_size");
    if (st == DLOR_OK) st = dlor_graph_rmsnorm(g, x, n1, eps, &x, err);
    if (st != DLOR_OK) return st;
    if (base) return dlor_graph_output(g, "last_hidden_state", x, err);
    /* tie_word_embeddings: the head is the embedding (Hugging Face then saves no lm_head) */
    const char *head = c->tie_word_embeddings == 1 ? emb : "lm_head.weight";
    if (c->tie_word_embeddings != 1)
        st = need(b, head, V, H, c->tie_word_embeddings < 0 ? "vocab_size, hidden_size; tie_word_embeddings absent"
                                                           : "vocab_size, hidden_size; tie_word_embeddings false");
    if (st == DLOR_OK) st = dlor_graph_linear(g, x, head, NULL, &x, err);
    if (st == DLOR_OK) st = dlor_graph_output(g, "logits", x, err);
    return st;
}

dlor_status dlor_hf_graph(const dlor_hf_config *c, const dlor_tensor_list *t, const char *cfg, const char *weights,
                          dlor_graph *g, char *why, size_t why_len, dlor_error *err)
{
    builder b = {t, cfg, weights, c->model_type, g, err, -1, 0};
    char none[8];
    if (!why || !why_len) why = none, why_len = sizeof none;
    why[0] = 0;
    dlor_status st;
    if (strcmp(c->model_type, "bert") == 0) st = bert(&b, c, why, why_len);
    else if (strcmp(c->model_type, "llama") == 0) st = llama(&b, c, why, why_len);
    else {
        if (c->model_type[0])
            snprintf(why, why_len, "%s: model_type '%s' is not one dlor builds a graph for (bert, llama)", cfg,
                     c->model_type);
        else snprintf(why, why_len, "%s: no model_type", cfg);
        st = DLOR_OK;
    }
    if (st != DLOR_OK || why[0]) {
        dlor_graph_free(g);
        dlor_graph_init(g);
    }
    /* the reason quotes config.json's strings: one line, control bytes shown as '?' */
    for (char *q = why; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
    return st;
}
