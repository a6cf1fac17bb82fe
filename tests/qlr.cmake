# A quantized base plus a low-rank correction (convert --method qlr; DLOR_FORMAT.md 7.2, 1.7): the
# base's bytes and the correction against numpy's fit, 'dlor run' against numpy, the data-space error
# against plain q4, usage errors, hostile layer records.
dlor_py_test(test_qlr test_qlr.py)
