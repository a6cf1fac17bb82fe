# The .dlor container: checksums, round trip, corruption, writer safety.
dlor_c_test(test_container test_container.c)
target_link_libraries(test_container PRIVATE ZLIB::ZLIB)
dlor_py_test(test_cli test_cli.py)
dlor_py_test(test_exit_codes test_exit_codes.py)
dlor_py_test(test_usage_lines test_usage_lines.py)

# The format spec (formats/DLOR_FORMAT.md) against dlor's readers and the independent
# reader tests/dlor_pyreader.py: every form dlor writes is accepted by both, each rule of
# section 9 is refused by both, and both give the same verdict on every file of the fuzz corpus.
add_executable(check_dlor tools/check_dlor.c)
target_link_libraries(check_dlor PRIVATE dlor_formats)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_format_spec COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_format_spec.py)
  set_tests_properties(test_format_spec PROPERTIES ENVIRONMENT
    "DLOR_BIN=$<TARGET_FILE:dlor>;DLOR_CHECK=$<TARGET_FILE:check_dlor>;DLOR_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;DLOR_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endif()

