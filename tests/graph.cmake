# The host model graph: DAG builders, the shape check and the text form.
dlor_c_test(test_graph test_graph.c)
# Graphs of format 1.5 run by dlor against numpy (tests/dlor_pyreader.py and
# models written out in the test), bad inputs and graphs, files of format 1.4.
dlor_py_test(test_graph_run test_graph_run.py)
# The runtime's contracts for graphs of values: the plan, the observer, token inputs, teams.
dlor_c_test(test_runtime_graph test_runtime_graph.c)
target_link_libraries(test_runtime_graph PRIVATE dlor_pool)
# The trained transformer samples (samples/bert-tiny, llama-tiny, llama-tiny-tied) through graphs
# written by hand with their Hugging Face tensor names, against their committed outputs.
dlor_py_test(test_graph_samples test_graph_samples.py)
