# The transformer samples (samples/bert-tiny, llama-tiny, llama-tiny-tied) against the numpy
# reference forward (tests/transformer_ref.py), onnxruntime and the tokenizers package.
dlor_py_test(test_transformer_samples test_transformer_samples.py)
