# convert's extra outputs: --emit (factors) and --emit-dense (the dense weights rebuilt, a
# drop-in for the source), against numpy rebuilds from the tests' own reader.
dlor_py_test(test_emit test_emit.py)
