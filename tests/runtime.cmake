# The runtime: float32 forward pass against a double reference; its contracts.
dlor_c_test(test_runtime test_runtime.c)
find_package(Threads REQUIRED)
target_link_libraries(test_runtime PRIVATE Threads::Threads)
add_test(NAME runtime_standalone_symbols
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_runtime_symbols.sh ${PROJECT_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/rtsym ${CMAKE_C_COMPILER})
dlor_py_test(test_run test_run.py)
