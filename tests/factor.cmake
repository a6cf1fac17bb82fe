# Exact DLoR factorizations (lib/factor_*.c): numbers checked against independent references.
dlor_c_test(test_factor ${CMAKE_CURRENT_SOURCE_DIR}/test_factor.c ${CMAKE_CURRENT_SOURCE_DIR}/testmat.c)
# The N = 1024 cases take a few seconds each (dgees); allow for slow sanitizer builds.
set_tests_properties(test_factor PROPERTIES TIMEOUT 900)

# Benchmark program (not a test): bench_factor [N] [r]
add_executable(bench_factor ${PROJECT_SOURCE_DIR}/bench/bench_factor.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_include_directories(bench_factor PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(bench_factor PRIVATE dlor_core)
