/* fuzz_hf_config - property: the config.json reader (dlor_hf_config_parse and
 * the JSON parser under it) never crashes, hangs or reads outside the input;
 * it fails with a clean one-line error, or succeeds only on text the JSON
 * parser accepts. A config it reads is then turned into a graph over two small
 * fixed models (a 1-layer BERT of hidden size 4 and a 1-layer LLaMA of hidden
 * size 4 with grouped-query attention): dlor_hf_graph either refuses cleanly,
 * gives no graph with a reason, or gives a graph that passes dlor_graph_check
 * against those tensors. */
#include <stdio.h>
#include <string.h>

#include "dlor_hf.h"
#include "dlor_json.h"
#include "fuzz_common.h"

static unsigned char zeros[4096];

static void add(dlor_tensor_list *l, const char *name, uint64_t d0, uint64_t d1)
{
    uint64_t dims[2] = {d0, d1};
    int nd = d1 ? 2 : 1;
    size_t n = (size_t)(d0 * (d1 ? d1 : 1)) * 4;
    dlor_error err;
    DLF_REQUIRE(dlor_tensor_list_add(l, "fixed", name, strlen(name), DLOR_DT_F32, nd, dims, zeros, n, &err) == DLOR_OK,
                "fixed model: %s", err.msg);
}

/* BertModel names, H 4, 2 heads allowed, I 8, vocabulary 10, 6 positions, 2 types, 1 layer. */
static void bert_model(dlor_tensor_list *l)
{
    static const char *const hh[] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                     "attention.output.dense"};
    static const char *const ln[] = {"attention.output.LayerNorm", "output.LayerNorm"};
    char n[128];
    add(l, "embeddings.word_embeddings.weight", 10, 4);
    add(l, "embeddings.position_embeddings.weight", 6, 4);
    add(l, "embeddings.token_type_embeddings.weight", 2, 4);
    add(l, "embeddings.LayerNorm.weight", 4, 0);
    add(l, "embeddings.LayerNorm.bias", 4, 0);
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "encoder.layer.0.%s.weight", hh[i]);
        add(l, n, 4, 4);
        snprintf(n, sizeof n, "encoder.layer.0.%s.bias", hh[i]);
        add(l, n, 4, 0);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(n, sizeof n, "encoder.layer.0.%s.weight", ln[i]);
        add(l, n, 4, 0);
        snprintf(n, sizeof n, "encoder.layer.0.%s.bias", ln[i]);
        add(l, n, 4, 0);
    }
    add(l, "encoder.layer.0.intermediate.dense.weight", 8, 4);
    add(l, "encoder.layer.0.intermediate.dense.bias", 8, 0);
    add(l, "encoder.layer.0.output.dense.weight", 4, 8);
    add(l, "encoder.layer.0.output.dense.bias", 4, 0);
}

/* LlamaForCausalLM names, H 4, 2 heads of 2 sharing 1 kv head, I 6, vocabulary 10, 1 layer, untied head. */
static void llama_model(dlor_tensor_list *l)
{
    add(l, "model.embed_tokens.weight", 10, 4);
    add(l, "model.layers.0.input_layernorm.weight", 4, 0);
    add(l, "model.layers.0.post_attention_layernorm.weight", 4, 0);
    add(l, "model.layers.0.self_attn.q_proj.weight", 4, 4);
    add(l, "model.layers.0.self_attn.k_proj.weight", 2, 4);
    add(l, "model.layers.0.self_attn.v_proj.weight", 2, 4);
    add(l, "model.layers.0.self_attn.o_proj.weight", 4, 4);
    add(l, "model.layers.0.mlp.gate_proj.weight", 6, 4);
    add(l, "model.layers.0.mlp.up_proj.weight", 6, 4);
    add(l, "model.layers.0.mlp.down_proj.weight", 4, 6);
    add(l, "model.norm.weight", 4, 0);
    add(l, "lm_head.weight", 10, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_hf_config c;
    dlor_error err;
    memset(&c, 0xa5, sizeof c);
    dlor_status st = dlor_hf_config_parse(data, size, "config.json", &c, &err);
    if (st != DLOR_OK) {
        dlf_check_error(st, &err);
        return 0;
    }
    DLF_REQUIRE(dlor_json_validate(data, size, &err) == DLOR_OK, "config read from invalid JSON: %s", err.msg);
    DLF_REQUIRE(memchr(c.model_type, 0, sizeof c.model_type) && memchr(c.hidden_act, 0, sizeof c.hidden_act) &&
                    memchr(c.position_embedding_type, 0, sizeof c.position_embedding_type),
                "unterminated string field");
    for (int m = 0; m < 2; m++) {
        dlor_tensor_list l;
        dlor_graph g;
        char why[512];
        dlor_tensor_list_init(&l);
        dlor_graph_init(&g);
        if (m == 0) bert_model(&l);
        else llama_model(&l);
        st = dlor_hf_graph(&c, &l, "config.json", "model.safetensors", &g, why, sizeof why, &err);
        if (st != DLOR_OK) {
            dlf_check_error(st, &err);
            DLF_REQUIRE(g.count == 0, "a refused config left %zu operations", g.count);
        } else if (g.count == 0) {
            DLF_REQUIRE(why[0] && !strchr(why, '\n'), "no graph and no one-line reason");
        } else {
            st = dlor_graph_check(&g, &l, "fixed", NULL, NULL, &err);
            DLF_REQUIRE(st == DLOR_OK, "a recognised graph fails its check: %s", err.msg);
        }
        dlor_graph_free(&g);
        dlor_tensor_list_free(&l);
    }
    return 0;
}
