/* test_graph - the host model graph: DAG builders, the shape check (every rule
 * refused with a one-line message), and the text form (old chain texts as
 * before; DAG texts parsed and written back unchanged). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_graph.h"
#include "testutil.h"

/* A float32 tensor of the given shape (values irrelevant: the check looks at shapes). */
static void add_tensor(dlor_tensor_list *t, const char *name, int ndim, uint64_t d0, uint64_t d1)
{
    dlor_error e;
    uint64_t dims[2] = {d0, d1};
    size_t n = (size_t)(ndim == 1 ? d0 : d0 * d1);
    unsigned char *data = calloc(n ? n : 1, 4);
    CHECK(data && dlor_tensor_list_own(t, data, &e) == DLOR_OK, "own");
    CHECK(dlor_tensor_list_add(t, "test", name, strlen(name), DLOR_DT_F32, ndim, dims, data, n * 4, &e) == DLOR_OK,
          "add %s: %s", name, e.msg);
}

enum { H = 8, HEADS = 2, FF = 16, VOCAB = 11, POS = 6, KV = 1 };

/* A BERT-like encoder layer: embeddings (word, position, type) + LayerNorm,
 * attention with a padding mask, residual + LayerNorm, GELU MLP, residual +
 * LayerNorm, mean pooling over the mask, L2 normalisation. */
static void bert_tensors(dlor_tensor_list *t)
{
    add_tensor(t, "word", 2, VOCAB, H);
    add_tensor(t, "pos", 2, POS, H);
    add_tensor(t, "type", 2, 2, H);
    const char *vec[] = {"ln0.w", "ln0.b", "q.b", "k.b", "v.b", "o.b", "ln1.w", "ln1.b", "f2.b", "ln2.w", "ln2.b"};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) add_tensor(t, vec[i], 1, H, 0);
    const char *sq[] = {"q.w", "k.w", "v.w", "o.w"};
    for (int i = 0; i < 4; i++) add_tensor(t, sq[i], 2, H, H);
    add_tensor(t, "f1.w", 2, FF, H);
    add_tensor(t, "f1.b", 1, FF, 0);
    add_tensor(t, "f2.w", 2, H, FF);
}

static dlor_status bert_graph(dlor_graph *g, dlor_error *e)
{
    uint32_t ids, mask, tt, w, p, ty, x, q, k, v, a, o, h, f, y;
    dlor_status st;
#define TRY(call)                                \
    do {                                         \
        if ((st = (call)) != DLOR_OK) return st; \
    } while (0)
    TRY(dlor_graph_input(g, "input_ids", DLOR_INPUT_IDS, 0, &ids, e));
    TRY(dlor_graph_input(g, "attention_mask", DLOR_INPUT_MASK, 0, &mask, e));
    TRY(dlor_graph_input(g, "token_type_ids", DLOR_INPUT_TYPE_IDS, 0, &tt, e));
    TRY(dlor_graph_embed(g, ids, "word", &w, e));
    TRY(dlor_graph_pos_embed(g, ids, "pos", &p, e));
    TRY(dlor_graph_embed(g, tt, "type", &ty, e));
    TRY(dlor_graph_add(g, w, p, &x, e));
    TRY(dlor_graph_add(g, x, ty, &x, e));
    TRY(dlor_graph_layernorm(g, x, "ln0.w", "ln0.b", 1e-12, &x, e));
    TRY(dlor_graph_linear(g, x, "q.w", "q.b", &q, e));
    TRY(dlor_graph_linear(g, x, "k.w", "k.b", &k, e));
    TRY(dlor_graph_linear(g, x, "v.w", "v.b", &v, e));
    dlor_attention at = {q, k, v, mask, HEADS, 0, 0, 0.0, 0.0};
    TRY(dlor_graph_attention(g, &at, &a, e));
    TRY(dlor_graph_linear(g, a, "o.w", "o.b", &o, e));
    TRY(dlor_graph_add(g, x, o, &h, e));
    TRY(dlor_graph_layernorm(g, h, "ln1.w", "ln1.b", 1e-12, &h, e));
    TRY(dlor_graph_linear(g, h, "f1.w", "f1.b", &f, e));
    TRY(dlor_graph_act(g, f, DLOR_ACT_GELU_ERF, 0.0, &f, e));
    TRY(dlor_graph_linear(g, f, "f2.w", "f2.b", &f, e));
    TRY(dlor_graph_add(g, h, f, &y, e));
    TRY(dlor_graph_layernorm(g, y, "ln2.w", "ln2.b", 1e-12, &y, e));
    TRY(dlor_graph_output(g, "last_hidden_state", y, e));
    TRY(dlor_graph_pool(g, y, mask, DLOR_POOL_MEAN, &y, e));
    TRY(dlor_graph_l2norm(g, y, 1e-12, &y, e));
    TRY(dlor_graph_output(g, "sentence_embedding", y, e));
    return DLOR_OK;
}

/* A LLaMA-like decoder layer: RMSNorm, grouped-query attention (2 heads, 1 kv
 * head) with RoPE and a causal mask, residual, gated SiLU MLP, final norm, head. */
static void llama_tensors(dlor_tensor_list *t)
{
    add_tensor(t, "embed", 2, VOCAB, H);
    add_tensor(t, "n1", 1, H, 0);
    add_tensor(t, "n2", 1, H, 0);
    add_tensor(t, "nf", 1, H, 0);
    add_tensor(t, "q", 2, H, H);
    add_tensor(t, "k", 2, H / HEADS * KV, H);
    add_tensor(t, "v", 2, H / HEADS * KV, H);
    add_tensor(t, "o", 2, H, H);
    add_tensor(t, "gate", 2, FF, H);
    add_tensor(t, "up", 2, FF, H);
    add_tensor(t, "down", 2, H, FF);
    add_tensor(t, "head", 2, VOCAB, H);
}

static dlor_status llama_graph(dlor_graph *g, dlor_error *e)
{
    uint32_t ids, mask, x, n, q, k, v, a, h, gt, up;
    dlor_status st;
    TRY(dlor_graph_input(g, "input_ids", DLOR_INPUT_IDS, 0, &ids, e));
    TRY(dlor_graph_input(g, "attention_mask", DLOR_INPUT_MASK, 0, &mask, e));
    TRY(dlor_graph_embed(g, ids, "embed", &x, e));
    TRY(dlor_graph_rmsnorm(g, x, "n1", 1e-6, &n, e));
    TRY(dlor_graph_linear(g, n, "q", NULL, &q, e));
    TRY(dlor_graph_linear(g, n, "k", NULL, &k, e));
    TRY(dlor_graph_linear(g, n, "v", NULL, &v, e));
    dlor_attention at = {q, k, v, mask, HEADS, KV, 1, 0.0, 10000.0};
    TRY(dlor_graph_attention(g, &at, &a, e));
    TRY(dlor_graph_linear(g, a, "o", NULL, &a, e));
    TRY(dlor_graph_add(g, x, a, &h, e));
    TRY(dlor_graph_rmsnorm(g, h, "n2", 1e-6, &n, e));
    TRY(dlor_graph_linear(g, n, "gate", NULL, &gt, e));
    TRY(dlor_graph_act(g, gt, DLOR_ACT_SILU, 0.0, &gt, e));
    TRY(dlor_graph_linear(g, n, "up", NULL, &up, e));
    TRY(dlor_graph_mul(g, gt, up, &gt, e));
    TRY(dlor_graph_linear(g, gt, "down", NULL, &gt, e));
    TRY(dlor_graph_add(g, h, gt, &h, e));
    TRY(dlor_graph_rmsnorm(g, h, "nf", 1e-6, &h, e));
    TRY(dlor_graph_linear(g, h, "head", NULL, &h, e));
    TRY(dlor_graph_output(g, "logits", h, e));
    return DLOR_OK;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static int same_graph(const dlor_graph *a, const dlor_graph *b)
{
    if (a->count != b->count) return 0;
    for (size_t i = 0; i < a->count; i++) {
        const dlor_graph_op *x = &a->ops[i], *y = &b->ops[i];
        if (x->kind != y->kind || !same_str(x->weight, y->weight) || !same_str(x->bias, y->bias) ||
            x->act != y->act || x->param != y->param || memcmp(x->in, y->in, sizeof x->in) != 0 ||
            !same_str(x->name, y->name) || x->mode != y->mode || x->features != y->features || x->heads != y->heads ||
            x->kv_heads != y->kv_heads || x->causal != y->causal || x->rope_theta != y->rope_theta)
            return 0;
    }
    return 1;
}

static void test_models(void)
{
    dlor_tensor_list t;
    dlor_graph g, back;
    dlor_error e;
    uint64_t in_dim = 99, out_dim = 99;
    for (int model = 0; model < 2; model++) {
        dlor_tensor_list_init(&t);
        dlor_graph_init(&g);
        dlor_graph_init(&back);
        if (model == 0) bert_tensors(&t);
        else llama_tensors(&t);
        CHECK((model == 0 ? bert_graph(&g, &e) : llama_graph(&g, &e)) == DLOR_OK, "build: %s", e.msg);
        CHECK(dlor_graph_is_dag(&g), "a DAG");
        CHECK(dlor_graph_check(&g, &t, "m", &in_dim, &out_dim, &e) == DLOR_OK, "model %d: %s", model, e.msg);
        CHECK(in_dim == 0 && out_dim == (model == 0 ? H : VOCAB), "dims %llu %llu", (unsigned long long)in_dim,
              (unsigned long long)out_dim);
        dlor_graph_value *v = calloc(g.count, sizeof *v);
        CHECK(v && dlor_graph_shapes(&g, &t, "m", v, &e) == DLOR_OK, "shapes: %s", e.msg);
        if (model == 0 && v) { /* ids, mask, type ids; tokens of H; pooled rows */
            CHECK(v[0].type == DLOR_VALUE_IDS && v[1].type == DLOR_VALUE_MASK && v[2].type == DLOR_VALUE_IDS,
                  "input types");
            CHECK(v[3].type == DLOR_VALUE_TOKENS && v[3].features == H, "embed shape");
            CHECK(v[g.count - 2].type == DLOR_VALUE_ROWS && v[g.count - 2].features == H, "pooled shape");
        }
        if (model == 1 && v) {
            CHECK(v[5].features == H / HEADS * KV, "k of one kv head: %llu", (unsigned long long)v[5].features);
            CHECK(v[7].type == DLOR_VALUE_TOKENS && v[7].features == H, "attention output");
        }
        free(v);
        /* the text form gives the same graph back */
        char *text = NULL;
        CHECK(dlor_graph_to_text(&g, &text, &e) == DLOR_OK, "to text: %s", e.msg);
        CHECK(text && dlor_graph_parse(text, &back, &e) == DLOR_OK, "parse back: %s\n%s", e.msg, text ? text : "");
        CHECK(same_graph(&g, &back), "text round trip differs:\n%s", text ? text : "");
        free(text);
        dlor_graph_free(&g);
        dlor_graph_free(&back);
        dlor_tensor_list_free(&t);
    }
}

/* A hand-written DAG text: names, the value before as the default first value,
 * keyword attributes and defaults. */
static void test_text(void)
{
    dlor_tensor_list t;
    dlor_graph g, b;
    dlor_error e;
    dlor_tensor_list_init(&t);
    bert_tensors(&t);
    dlor_graph_init(&g);
    dlor_graph_init(&b);
    const char *text =
        "input(input_ids, ids); input(attention_mask, mask); input(token_type_ids, type_ids);"
        " %w = embed(%input_ids, word); %p = pos_embed(%input_ids, pos); %t = embed(%token_type_ids, type);"
        " add(%w, %p); add(%t); %x = layernorm(ln0.w, ln0.b, eps=1e-12);"
        " %q = linear(%x, q.w, q.b); %k = linear(%x, k.w, k.b); %v = linear(%x, v.w, v.b);"
        " attention(%q, %k, %v, %attention_mask, heads=2); linear(o.w, o.b); add(%x, %13);"
        " %h = layernorm(ln1.w, ln1.b, eps = 1e-12); linear(f1.w, f1.b); gelu; %f = linear(f2.w, f2.b); add(%h, %f);"
        " %y = layernorm(weight=ln2.w, bias=ln2.b, eps=1e-12); output(last_hidden_state);"
        " pool(%attention_mask, mean); l2norm; output(sentence_embedding)";
    CHECK(dlor_graph_parse(text, &g, &e) == DLOR_OK, "parse: %s", e.msg);
    CHECK(bert_graph(&b, &e) == DLOR_OK, "build: %s", e.msg);
    CHECK(same_graph(&g, &b), "the text gives another graph than the builders");
    CHECK(dlor_graph_check(&g, &t, "m", NULL, NULL, &e) == DLOR_OK, "%s", e.msg);
    dlor_graph_free(&g);
    dlor_graph_free(&b);
    /* defaults: layernorm 1e-5, rmsnorm 1e-6, l2norm 1e-12, kv_heads = heads, pool mean */
    CHECK(dlor_graph_parse("input(x, features, 8); layernorm; rmsnorm(w); l2norm; scale(0.5, b); output(y)", &g,
                           &e) == DLOR_OK,
          "%s", e.msg);
    CHECK(g.count == 6 && g.ops[1].param == 1e-5 && g.ops[2].param == 1e-6 && g.ops[2].weight &&
              strcmp(g.ops[2].weight, "w") == 0 && g.ops[3].param == 1e-12 && g.ops[4].param == 0.5 &&
              strcmp(g.ops[4].bias, "b") == 0 && g.ops[5].in[0] == 4 && g.ops[1].in[0] == 0 && g.ops[0].features == 8,
          "defaults");
    /* chains still read as before */
    CHECK(dlor_graph_parse("linear(0.weight,0.bias); relu; linear(2.weight); leaky_relu(0.2); branch(2); "
                           "linear(a); merge(c); softmax",
                           &g, &e) == DLOR_OK &&
              !dlor_graph_is_dag(&g) && g.count == 8 && g.ops[3].param == 0.2 && g.ops[4].param == 2 &&
              strcmp(g.ops[6].bias, "c") == 0,
          "chain text");
    char *s = NULL;
    CHECK(dlor_graph_to_text(&g, &s, &e) == DLOR_OK && s &&
              strcmp(s, "linear(0.weight,0.bias);relu;linear(2.weight);leaky_relu(0.20000000000000001);branch(2);"
                        "linear(a);merge(c);softmax") == 0,
          "chain text written: %s", s ? s : e.msg);
    free(s);
    /* refusals, one line each */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"input(x, features, 4); %a = relu; %a = tanh; output(y)", "value '%a' is named twice"},
        {"input(x, features, 4); relu(%b); output(y)", "unknown value '%b'"},
        {"input(x, features, 4); relu(%9); output(y)", "unknown value '%9'"},
        {"input(x, features, 4); %3 = relu; output(y)", "is the number of another value (this op makes %1)"},
        {"input(x, features, 4); %a relu; output(y)", "has no '='"},
        {"input(x, features, 4); layernorm(eps=x); output(y)", "eps=x is not a finite number"},
        {"input(x, features, 4); layernorm(w, b, c); output(y)", "takes no argument 'c'"},
        {"input(x, features, 4); l2norm(gamma=2); output(y)", "takes no attribute 'gamma'"},
        {"input(x, features); output(y)", "takes its feature count"},
        {"input(x, words); output(y)", "unknown input mode 'words'"},
        {"input(x, features, 4); relu; input(z, ids); output(y)", "the inputs come first"},
        {"input(i, ids); attention(%i, %i); output(y)", "attention takes %Q, %K, %V"},
        {"input(i, ids); %q = embed(%i, w); attention(%q, %q, %q); output(y)", "attention needs heads=H"},
        {"input(i, ids); %q = embed(%i, w); attention(%q, %q, %q, heads=1.5); output(y)", "positive integer"},
        {"input(i, ids); pool(%i, median); output(y)", "unknown pooling 'median'"},
        {"input(x, features, 4); frobnicate; output(y)", "unknown operation 'frobnicate'"},
        {"input(x, features, 4);; output(y)", "an empty operation"},
        {"%a = relu; input(x, features, 4)", "starts with its input(...) declarations"},
        {"linear(w); input(x, ids)", "starts with its input(...) declarations"},
        {"input(x, features, 4); add; output(y)", "add reads 2 values, not 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dlor_graph_init(&b);
        dlor_status st = dlor_graph_parse(bad[i].text, &b, &e);
        CHECK(st == DLOR_E_FORMAT && strstr(e.msg, bad[i].msg) && !strchr(e.msg, '\n'), "'%s': %s", bad[i].text,
              st == DLOR_OK ? "accepted" : e.msg);
        CHECK(b.count == 0, "a failed parse leaves the graph empty");
        dlor_graph_free(&b);
    }
    dlor_graph_free(&g);
    dlor_tensor_list_free(&t);
}

/* Every rule of the DAG check refuses a graph that breaks it, with one line
 * naming the op. Each case edits a valid BERT-like or LLaMA-like graph. */
typedef void (*edit_fn)(dlor_graph *g);
static dlor_graph_op *op_of(dlor_graph *g, dlor_op_kind kind, int nth)
{
    for (size_t i = 0; i < g->count; i++)
        if (g->ops[i].kind == kind && nth-- == 0) return &g->ops[i];
    return NULL;
}
static void set_name(char **field, const char *v)
{
    free(*field);
    *field = v ? strdup(v) : NULL;
}
static void e_linear_in(dlor_graph *g) { set_name(&op_of(g, DLOR_OP_LINEAR, 5)->weight, "q.w"); }
static void e_missing(dlor_graph *g) { set_name(&op_of(g, DLOR_OP_LINEAR, 0)->weight, "nope"); }
static void e_bias(dlor_graph *g) { set_name(&op_of(g, DLOR_OP_LINEAR, 4)->bias, "q.b"); }
static void e_heads(dlor_graph *g) { op_of(g, DLOR_OP_ATTENTION, 0)->heads = op_of(g, DLOR_OP_ATTENTION, 0)->kv_heads = 3; }
static void e_kv(dlor_graph *g) { op_of(g, DLOR_OP_ATTENTION, 0)->kv_heads = 3; }
static void e_kvfeat(dlor_graph *g) { op_of(g, DLOR_OP_ATTENTION, 0)->kv_heads = 2; }
static void e_mask(dlor_graph *g) { op_of(g, DLOR_OP_ATTENTION, 0)->in[3] = 0; }
static void e_future(dlor_graph *g) { op_of(g, DLOR_OP_ADD, 0)->in[1] = (uint32_t)g->count - 1; }
static void e_output_read(dlor_graph *g)
{
    op_of(g, DLOR_OP_POOL, 0)->in[0] = (uint32_t)(op_of(g, DLOR_OP_OUTPUT, 0) - g->ops);
}
static void e_eps(dlor_graph *g) { op_of(g, DLOR_OP_LAYERNORM, 0)->param = 0.0; }
static void e_eps_nan(dlor_graph *g) { op_of(g, DLOR_OP_L2NORM, 0)->param = NAN; }
static void e_act(dlor_graph *g) { op_of(g, DLOR_OP_ACT, 0)->act = (dlor_act)9; }
static void e_slope(dlor_graph *g) { op_of(g, DLOR_OP_ACT, 0)->param = 0.5; }
static void e_embed_mask(dlor_graph *g) { op_of(g, DLOR_OP_EMBED, 0)->in[0] = 1; }
static void e_pool_rows(dlor_graph *g)
{
    dlor_graph_op *o = op_of(g, DLOR_OP_L2NORM, 0);
    o->kind = DLOR_OP_POOL;
    o->mode = DLOR_POOL_MEAN;
    o->param = 0.0;
}
static void e_add_shape(dlor_graph *g) { op_of(g, DLOR_OP_ADD, 3)->in[1] = (uint32_t)(op_of(g, DLOR_OP_LINEAR, 4) - g->ops); }
static void e_out_int(dlor_graph *g) { op_of(g, DLOR_OP_OUTPUT, 0)->in[0] = 0; }
static void e_no_output(dlor_graph *g)
{
    for (int k = 1; k >= 0; k--) {
        dlor_graph_op *o = op_of(g, DLOR_OP_OUTPUT, k);
        o->kind = DLOR_OP_SOFTMAX;
        set_name(&o->name, NULL);
    }
}
static void e_same_mode(dlor_graph *g) { g->ops[2].mode = DLOR_INPUT_IDS; }
static void e_dup_input(dlor_graph *g) { set_name(&g->ops[2].name, "input_ids"); }
static void e_features(dlor_graph *g) { g->ops[0].features = 3; }
static void e_field(dlor_graph *g) { op_of(g, DLOR_OP_ADD, 0)->param = 1.0; }
static void e_branch(dlor_graph *g) { op_of(g, DLOR_OP_ACT, 0)->kind = DLOR_OP_BRANCH; }
static void e_slot(dlor_graph *g) { op_of(g, DLOR_OP_LINEAR, 0)->in[2] = 0; }
static void e_cls(dlor_graph *g) { op_of(g, DLOR_OP_POOL, 0)->mode = 3; }
static void e_rope_odd(dlor_graph *g) { op_of(g, DLOR_OP_ATTENTION, 0)->rope_theta = -1.0; }
static void e_late_input(dlor_graph *g) { op_of(g, DLOR_OP_EMBED, 1)->kind = DLOR_OP_INPUT; }

static void test_check(void)
{
    static const struct {
        int llama;
        edit_fn edit;
        const char *msg;
    } cases[] = {
        {0, e_linear_in, "weight 'q.w' is f32 [8, 8], not a non-empty float [rows, 16] tensor"},
        {0, e_missing, "weight tensor 'nope' not found"},
        {0, e_bias, "bias 'q.b' is f32 [8], not a non-empty float [16] tensor"},
        {0, e_heads, "q has 8 features, not a multiple of 3 heads"},
        {1, e_kv, "2 heads and 3 kv heads"},
        {1, e_kvfeat, "k has 4 features, not kv heads x head size = 8"},
        {0, e_mask, "the mask is not the mask input"},
        {0, e_future, "which is not made before it"},
        {0, e_output_read, "an output (read the value it names)"},
        {0, e_eps, "eps must be a finite number > 0"},
        {0, e_eps_nan, "parameter is not finite"},
        {0, e_act, "bad activation 9"},
        {0, e_slope, "bad activation 6 (param 0.5)"},
        {0, e_embed_mask, "its input is not token ids"},
        {0, e_pool_rows, "its input is not a token value"},
        {0, e_add_shape, "its inputs are not float values of one shape (8 and 16 features)"},
        {0, e_out_int, "output 'last_hidden_state' names an integer value"},
        {0, e_no_output, "model graph has no output"},
        {0, e_same_mode, "inputs 'input_ids' and 'token_type_ids' have one mode"},
        {0, e_dup_input, "two inputs are named 'input_ids'"},
        {0, e_features, "a features input has a feature count (>= 1), others none"},
        {0, e_field, "has a field its kind does not use"},
        {0, e_branch, "belongs to chains"},
        {0, e_slot, "reads a value in input slot 2, which it has not"},
        {0, e_cls, "unknown pooling mode 3"},
        {1, e_rope_odd, "scale and rope theta must be finite numbers >= 0"},
        {0, e_late_input, "the inputs must come first"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dlor_tensor_list t;
        dlor_graph g;
        dlor_error e;
        dlor_tensor_list_init(&t);
        dlor_graph_init(&g);
        if (cases[i].llama) llama_tensors(&t);
        else bert_tensors(&t);
        CHECK((cases[i].llama ? llama_graph(&g, &e) : bert_graph(&g, &e)) == DLOR_OK, "build");
        cases[i].edit(&g);
        dlor_status st = dlor_graph_check(&g, &t, "m.safetensors", NULL, NULL, &e);
        CHECK(st == DLOR_E_FORMAT && strstr(e.msg, cases[i].msg) && strncmp(e.msg, "m.safetensors: ", 15) == 0 &&
                  !strchr(e.msg, '\n'),
              "case %zu (%s): %s", i, cases[i].msg, st == DLOR_OK ? "accepted" : e.msg);
        dlor_graph_free(&g);
        dlor_tensor_list_free(&t);
    }
    /* rotary embedding needs an even head size */
    dlor_tensor_list t;
    dlor_graph g;
    dlor_error e;
    uint32_t ids, q;
    dlor_tensor_list_init(&t);
    dlor_graph_init(&g);
    add_tensor(&t, "emb", 2, 4, 6);
    CHECK(dlor_graph_input(&g, "ids", DLOR_INPUT_IDS, 0, &ids, &e) == DLOR_OK &&
              dlor_graph_embed(&g, ids, "emb", &q, &e) == DLOR_OK,
          "build");
    dlor_attention a = {q, q, q, DLOR_GRAPH_NONE, 2, 2, 0, 0.0, 500.0};
    CHECK(dlor_graph_attention(&g, &a, &q, &e) == DLOR_OK && dlor_graph_output(&g, "y", q, &e) == DLOR_OK, "build");
    CHECK(dlor_graph_check(&g, &t, "m", NULL, NULL, &e) == DLOR_E_FORMAT &&
              strstr(e.msg, "rotary embedding needs an even head size, not 3"),
          "%s", e.msg);
    /* at most 64 outputs */
    dlor_graph g2;
    uint32_t xin;
    dlor_graph_init(&g2);
    CHECK(dlor_graph_input(&g2, "x", DLOR_INPUT_FEATURES, 6, &xin, &e) == DLOR_OK, "input");
    for (int k = 0; k < 65; k++) {
        char name[16];
        snprintf(name, sizeof name, "y%d", k);
        CHECK(dlor_graph_output(&g2, name, xin, &e) == DLOR_OK, "output");
        if (k == 63) CHECK(dlor_graph_check(&g2, &t, "m", NULL, NULL, &e) == DLOR_OK, "64 outputs: %s", e.msg);
    }
    CHECK(dlor_graph_check(&g2, &t, "m", NULL, NULL, &e) == DLOR_E_FORMAT && strstr(e.msg, "more than 64 outputs"),
          "65 outputs: %s", e.msg);
    dlor_graph_free(&g2);
    /* builders refuse values not made yet, and branch groups in a DAG */
    CHECK(dlor_graph_act(&g, 99, DLOR_ACT_RELU, 0, NULL, &e) == DLOR_E_ARG && strstr(e.msg, "reads value 99"), "%s",
          e.msg);
    CHECK(dlor_graph_add_branch(&g, 1.0, &e) == DLOR_E_ARG && strstr(e.msg, "belongs to chains"), "%s", e.msg);
    /* a chain builder extends a DAG at its last value (skipping outputs) */
    size_t n = g.count;
    CHECK(dlor_graph_add_act(&g, DLOR_ACT_TANH, 0, &e) == DLOR_OK && g.ops[n].in[0] == n - 2 &&
              g.ops[n].in[1] == DLOR_GRAPH_NONE,
          "chain builder in a DAG");
    /* a chain holding a DAG op is refused */
    dlor_graph_free(&g);
    dlor_graph_init(&g);
    CHECK(dlor_graph_add_linear(&g, "emb", NULL, &e) == DLOR_OK, "chain");
    dlor_graph_op op;
    memset(&op, 0, sizeof op);
    op.kind = DLOR_OP_L2NORM;
    CHECK(dlor_graph_push(&g, &op, NULL, &e) == DLOR_OK, "push");
    CHECK(dlor_graph_check(&g, &t, "m", NULL, NULL, &e) == DLOR_E_FORMAT && strstr(e.msg, "l2norm 17 in a chain"), "%s",
          e.msg);
    dlor_graph_free(&g);
    dlor_tensor_list_free(&t);
}

int main(void)
{
    test_models();
    test_text();
    test_check();
    return dlt_finish();
}
