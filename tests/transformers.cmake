# The transformer samples (samples/bert-tiny, llama-tiny, llama-tiny-tied) against the numpy
# reference forward (tests/transformer_ref.py), onnxruntime and the tokenizers package.
dlor_py_test(test_transformer_samples test_transformer_samples.py)
# Hugging Face folders: the graph built from config.json (bert, llama) against the samples'
# references, config.json files that disagree with the tensors, inputs the models cannot take.
dlor_py_test(test_hf_models test_hf_models.py)
