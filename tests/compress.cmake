# Compression of single layers into beta I + P Q^T (lib/compress*.c): numbers checked against
# independent references (LAPACK spectra, brute-force scans and searches, plain products).

dlor_c_test(test_compress ${CMAKE_CURRENT_SOURCE_DIR}/test_compress.c ${CMAKE_CURRENT_SOURCE_DIR}/testmat.c)
# About 10 s normally; sanitizer builds are slower (the BLAS/LAPACK work is not instrumented).
set_tests_properties(test_compress PROPERTIES TIMEOUT 600)

# The leading singular triplets (lib/svd_top.c) against LAPACK's full SVD.
dlor_c_test(test_svd_top ${CMAKE_CURRENT_SOURCE_DIR}/test_svd_top.c ${CMAKE_CURRENT_SOURCE_DIR}/testmat.c)

# Benchmark program (not a test): bench_compress [N] [k]
add_executable(bench_compress ${PROJECT_SOURCE_DIR}/bench/bench_compress.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_include_directories(bench_compress PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(bench_compress PRIVATE dlor_core)
dlor_py_test(test_compress_cli test_compress_cli.py)
# convert --calib-acts: captured activations or Gram matrices against numpy's layer inputs, the
# ridge fallback, and every refusal (test_calib_acts.py)
dlor_py_test(test_calib_acts test_calib_acts.py)
# --allocate uniform's ranks, and calibrated allocation against it end to end (test_calib_alloc.py)
dlor_py_test(test_calib_alloc test_calib_alloc.py)
