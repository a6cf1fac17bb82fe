"""Graphs of values for the trained transformer samples (samples/bert-tiny, llama-tiny,
llama-tiny-tied), written by hand in the 'dlor.graph' text form with the tensors' Hugging Face
names: sample_with_graph writes a copy of a sample's model.safetensors that carries its graph."""
import json
import os

from safetensors.numpy import load_file, save_file

SRC = os.environ.get("DLOR_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bert_graph(c):
    eps = c["layer_norm_eps"]
    g = ["input(input_ids, ids)", "input(attention_mask, mask)", "input(token_type_ids, type_ids)",
         "%w = embed(%input_ids, embeddings.word_embeddings.weight)",
         "%p = pos_embed(%input_ids, embeddings.position_embeddings.weight)",
         "%t = embed(%token_type_ids, embeddings.token_type_embeddings.weight)", "add(%w, %p)", "add(%t)",
         f"%x0 = layernorm(embeddings.LayerNorm.weight, embeddings.LayerNorm.bias, eps={eps!r})"]
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        a = p + "attention."
        x = f"%x{i}"
        g += [f"%q{i} = linear({x}, {a}self.query.weight, {a}self.query.bias)",
              f"%k{i} = linear({x}, {a}self.key.weight, {a}self.key.bias)",
              f"%v{i} = linear({x}, {a}self.value.weight, {a}self.value.bias)",
              f"attention(%q{i}, %k{i}, %v{i}, %attention_mask, heads={c['num_attention_heads']})",
              f"linear({a}output.dense.weight, {a}output.dense.bias)", f"add({x})",
              f"%h{i} = layernorm({a}output.LayerNorm.weight, {a}output.LayerNorm.bias, eps={eps!r})",
              f"linear({p}intermediate.dense.weight, {p}intermediate.dense.bias)", "gelu",
              f"linear({p}output.dense.weight, {p}output.dense.bias)", f"add(%h{i})",
              f"%x{i + 1} = layernorm({p}output.LayerNorm.weight, {p}output.LayerNorm.bias, eps={eps!r})"]
    g += ["output(last_hidden_state)", "pool(%attention_mask, mean)", "l2norm(eps=1e-12)",
          "output(sentence_embedding)"]
    return "; ".join(g)


def llama_graph(c, tied):
    eps, heads, kv = c["rms_norm_eps"], c["num_attention_heads"], c["num_key_value_heads"]
    g = ["input(input_ids, ids)", "input(attention_mask, mask)", "%x0 = embed(%input_ids, model.embed_tokens.weight)"]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a, m = p + "self_attn.", p + "mlp."
        g += [f"%n{i} = rmsnorm(%x{i}, {p}input_layernorm.weight, eps={eps!r})",
              f"%q{i} = linear({a}q_proj.weight)", f"%k{i} = linear(%n{i}, {a}k_proj.weight)",
              f"%v{i} = linear(%n{i}, {a}v_proj.weight)",
              f"attention(%q{i}, %k{i}, %v{i}, %attention_mask, heads={heads}, kv_heads={kv}, causal, "
              f"rope_theta={c['rope_theta']!r})", f"linear({a}o_proj.weight)", f"%h{i} = add(%x{i})",
              f"%m{i} = rmsnorm({p}post_attention_layernorm.weight, eps={eps!r})",
              f"linear({m}gate_proj.weight)", f"%g{i} = silu", f"%u{i} = linear(%m{i}, {m}up_proj.weight)",
              f"mul(%g{i}, %u{i})", f"linear({m}down_proj.weight)", f"%x{i + 1} = add(%h{i})"]
    head = "model.embed_tokens.weight" if tied else "lm_head.weight"
    g += [f"rmsnorm(model.norm.weight, eps={eps!r})", f"linear({head})", "output(logits)"]
    return "; ".join(g)


def sample_with_graph(name, folder):
    """Writes folder/NAME.safetensors, the sample's weights with its graph in the metadata;
    returns its path, the sample's config and the name of the graph's first output."""
    sample = os.path.join(SRC, "samples", name)
    with open(os.path.join(sample, "config.json")) as f:
        c = json.load(f)
    if c["model_type"] == "bert":
        graph, out = bert_graph(c), "last_hidden_state"
    else:
        graph, out = llama_graph(c, c.get("tie_word_embeddings", False)), "logits"
    path = os.path.join(folder, name + ".safetensors")
    save_file(load_file(os.path.join(sample, "model.safetensors")), path, metadata={"dlor.graph": graph})
    return path, c, out
