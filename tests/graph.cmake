# The host model graph: DAG builders, the shape check and the text form.
dlor_c_test(test_graph test_graph.c)
