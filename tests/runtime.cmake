# The runtime: float32 forward pass against a double reference; its contracts.
dlor_c_test(test_runtime test_runtime.c)
find_package(Threads REQUIRED)
target_link_libraries(test_runtime PRIVATE dlor_pool Threads::Threads)
# The runtime's sources and include folders, as the dlor_runtime target lists them.
set(DLOR_RT_INCLUDE_FLAGS "-I$<JOIN:$<TARGET_PROPERTY:dlor_runtime,INCLUDE_DIRECTORIES>, -I>")
add_test(NAME runtime_standalone_symbols
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_runtime_symbols.sh ${CMAKE_CURRENT_BINARY_DIR}/rtsym
                 ${CMAKE_C_COMPILER} $<TARGET_FILE:dlor_runtime> "${DLOR_RT_INCLUDE_FLAGS}"
                 "$<TARGET_PROPERTY:dlor_runtime,SOURCES>"
         COMMAND_EXPAND_LISTS WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
dlor_py_test(test_run test_run.py)
# NaN and infinity through every forward pass, against onnxruntime (and PyTorch when installed).
dlor_py_test(test_nonfinite test_nonfinite.py)
# ... and for microcontrollers (arm-none-eabi-gcc, -Wall -Wextra -Werror); skipped without the compiler.
add_test(NAME runtime_firmware_build
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_firmware_build.sh ${CMAKE_CURRENT_BINARY_DIR}/fwbuild
                 "${DLOR_RT_INCLUDE_FLAGS}" "$<TARGET_PROPERTY:dlor_runtime,SOURCES>"
         COMMAND_EXPAND_LISTS WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(runtime_firmware_build PROPERTIES SKIP_RETURN_CODE 77)
# The static cost of an inference (export-c, info) against a count of our own.
dlor_py_test(test_cost test_cost.py)

# The embedded demo: the digits model compiled in as a const array (export-c).
set(DLOR_DEMO_DIR ${PROJECT_BINARY_DIR}/embedded)
add_custom_command(
  OUTPUT ${DLOR_DEMO_DIR}/model.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${DLOR_DEMO_DIR}
  COMMAND $<TARGET_FILE:dlor> convert ${PROJECT_SOURCE_DIR}/samples/digits/digits.safetensors
          -o ${DLOR_DEMO_DIR}/digits.dlor --activation relu --rank 16
  COMMAND $<TARGET_FILE:dlor> export-c ${DLOR_DEMO_DIR}/digits.dlor -o ${DLOR_DEMO_DIR}/model.h
  DEPENDS dlor ${PROJECT_SOURCE_DIR}/samples/digits/digits.safetensors
  COMMENT "Exporting the digits sample as a C array")
add_executable(dlor_embedded_demo ${PROJECT_SOURCE_DIR}/samples/embedded/main.c ${DLOR_DEMO_DIR}/model.h)
target_include_directories(dlor_embedded_demo PRIVATE ${DLOR_DEMO_DIR})
target_link_libraries(dlor_embedded_demo PRIVATE dlor_runtime)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_embedded
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_embedded.py)
  set_tests_properties(test_embedded PROPERTIES ENVIRONMENT
    "DLOR_BIN=$<TARGET_FILE:dlor>;DLOR_DEMO=$<TARGET_FILE:dlor_embedded_demo>;DLOR_DEMO_MODEL=${DLOR_DEMO_DIR}/digits.dlor;DLOR_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;DLOR_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endif()

# The runtime API alone, portable and BLAS builds, for path comparisons.
add_executable(run_image tools/run_image.c)
target_link_libraries(run_image PRIVATE dlor_runtime)
add_executable(run_image_blas tools/run_image.c)
target_link_libraries(run_image_blas PRIVATE dlor_runtime_blas)
# ... and built without the per-processor kernel versions (the baseline instruction
# set only, e.g. SSE2 on x86-64) and with the quantized kernels' plain loops instead
# of their vector types, which must give the bits of the dispatched ones.
add_library(dlor_runtime_noclones STATIC ${PROJECT_SOURCE_DIR}/formats/crc32.c
            ${PROJECT_SOURCE_DIR}/formats/dlor_image.c ${PROJECT_SOURCE_DIR}/formats/dlor_image_graph.c
            ${PROJECT_SOURCE_DIR}/lib/runtime/runtime.c)
target_include_directories(dlor_runtime_noclones PUBLIC ${PROJECT_SOURCE_DIR}/formats
                           ${PROJECT_SOURCE_DIR}/lib/runtime
                           ${PROJECT_SOURCE_DIR}/include)
target_compile_definitions(dlor_runtime_noclones PRIVATE DLOR_RUNTIME_NO_CLONES DLOR_RT_NO_VECTOR_EXT)
if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(dlor_runtime_noclones PRIVATE -O3 -ffp-contract=off)
endif()
target_link_libraries(dlor_runtime_noclones PUBLIC ${DLOR_MATH_LIB})
add_executable(run_image_noclones tools/run_image.c)
target_link_libraries(run_image_noclones PRIVATE dlor_runtime_noclones)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_runtime_paths COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_runtime_paths.py)
  set_tests_properties(test_runtime_paths PROPERTIES ENVIRONMENT
    "DLOR_BIN=$<TARGET_FILE:dlor>;DLOR_RUN_IMAGE=$<TARGET_FILE:run_image>;DLOR_RUN_IMAGE_BLAS=$<TARGET_FILE:run_image_blas>;DLOR_RUN_IMAGE_NOCLONES=$<TARGET_FILE:run_image_noclones>;DLOR_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;DLOR_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endif()
dlor_py_test(test_models test_models.py)

# The runtime's own float functions (dlor_mathf.h) against libm, its integer
# conversions, and its message formatting against the C library's.
dlor_c_test(test_mathf test_mathf.c)
dlor_c_test(test_image_messages test_image_messages.c)

# The runtime on emulated Cortex-M4F and Cortex-M3 boards (samples/embedded/,
# arm-none-eabi-gcc + qemu-system-arm); skipped without them.
if(Python3_Interpreter_FOUND)
  add_test(NAME test_embedded_qemu COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_embedded_qemu.py)
  set_tests_properties(test_embedded_qemu PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 ENVIRONMENT
    "DLOR_BIN=$<TARGET_FILE:dlor>;DLOR_CMAKE=${CMAKE_COMMAND};DLOR_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;DLOR_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endif()
