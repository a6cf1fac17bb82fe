# The network form of DLoR layers (lib/network*.c, convert --form network, run --dtype f64,
# reproduce): C tests of the graph rules, runtimes and constructions; Python tests of the
# commands against numpy references built from the paper's formulas.
dlor_c_test(test_network ${CMAKE_CURRENT_SOURCE_DIR}/test_network.c)
target_link_libraries(test_network PRIVATE dlor_pool)
dlor_py_test(test_network_cli test_network.py)
