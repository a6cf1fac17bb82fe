# ONNX reader and the protobuf decoder under it (formats.md section 3, cases 34-42).
dlor_c_test(test_onnx test_onnx.c)

# Prints an ONNX model's tensors and recovered graph as JSON (interop test).
add_executable(dlor_dump_onnx tools/dump_onnx.c)
target_link_libraries(dlor_dump_onnx PRIVATE dlor_dump_common)

if(Python3_Interpreter_FOUND)
  add_test(NAME test_interop_onnx
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_interop_onnx.py)
  set_tests_properties(test_interop_onnx PROPERTIES
    ENVIRONMENT "DLOR_DUMP_ONNX=$<TARGET_FILE:dlor_dump_onnx>;DLOR_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp")
endif()

# ONNX models with LayerNorm (one node, and the exporters' decomposed form) and residual Adds,
# exported by PyTorch (tests/data/onnx_norms), through dlor run and convert against onnxruntime.
dlor_py_test(test_onnx_norms test_onnx_norms.py)
