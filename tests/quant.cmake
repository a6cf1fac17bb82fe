# Block-quantized storage (q8, q4; DLOR_FORMAT.md 6.1): the converter's values against a numpy
# quantizer, 'dlor run' against a numpy forward pass, error bounds, hostile files.
dlor_py_test(test_quant test_quant.py)
# Integer dot products on int8 activations (dlor run --quant-acts) against a numpy pass.
dlor_py_test(test_quant_acts test_quant_acts.py)
