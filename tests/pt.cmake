# PyTorch state-dict reader and the restricted unpickler (formats.md section 4, cases 43-50).
dlor_c_test(test_pt test_pt.c testzip.c)
target_link_libraries(test_pt PRIVATE ZLIB::ZLIB)
dlor_py_test(test_interop_pt test_interop_pt.py)
