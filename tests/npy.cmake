# .npy / .npz readers and the zip walker (formats.md section 2, cases 21-33).
dlor_c_test(test_npy test_npy.c)
dlor_c_test(test_npz test_npz.c testzip.c)
target_link_libraries(test_npz PRIVATE ZLIB::ZLIB)
dlor_py_test(test_interop_numpy test_interop_numpy.py)
