# The transformer samples (samples/bert-tiny, llama-tiny, llama-tiny-tied) against the numpy
# reference forward (tests/transformer_ref.py), onnxruntime and the tokenizers package.
dlor_py_test(test_transformer_samples test_transformer_samples.py)
# Hugging Face folders: the graph built from config.json (bert, llama) against the samples'
# references, config.json files that disagree with the tensors, inputs the models cannot take.
dlor_py_test(test_hf_models test_hf_models.py)
# verify's end-to-end figures for models of token ids (cosine of pooled hidden states, next-token
# agreement and KL divergence) against numpy computations of the same figures.
dlor_py_test(test_verify_tokens test_verify_tokens.py)
