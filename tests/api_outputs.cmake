# The public API (dlor.h) on q8 and q4 storage, the dense rebuild, the ONNX
# rewrite (against the command's --emit-onnx file) and Hugging Face folders.
dlor_c_test(test_api_outputs test_api_outputs.c)
target_link_libraries(test_api_outputs PRIVATE dlor_lib)
set_property(TEST test_api_outputs APPEND PROPERTY ENVIRONMENT
  "DLOR_SOURCE_DIR=${PROJECT_SOURCE_DIR};DLOR_BIN=$<TARGET_FILE:dlor>")
