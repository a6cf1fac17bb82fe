# The .dlor container: checksums, round trip, corruption, writer safety.
dlor_c_test(test_container test_container.c)
target_link_libraries(test_container PRIVATE ZLIB::ZLIB)
dlor_py_test(test_cli test_cli.py)

dlor_py_test(test_exit_codes test_exit_codes.py)
