# convert's extra outputs: --emit (factors) and --emit-dense (the dense weights rebuilt, a
# drop-in for the source), against numpy rebuilds from the tests' own reader.
dlor_py_test(test_emit test_emit.py)
# --emit-onnx: the source ONNX model rewritten (onnx.checker, onnxruntime against dlor run
# and numpy rebuilds; tests/data/onnx/cnn.onnx from tests/data/make_cnn_onnx.py).
dlor_py_test(test_emit_onnx test_emit_onnx.py)
