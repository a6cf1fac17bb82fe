# The one-file runtime (amalgamation/dlor_runtime.c + dlor_runtime.h, written by the
# dlor_runtime_amalgamation target): what it holds, its symbols, its bits against
# 'dlor run', two private copies in one program; and its build for Cortex-M.
if(DLOR_AMALGAMATION_DIR AND Python3_Interpreter_FOUND)
  set(dlor_cc_sanitize "")
  if(DLOR_SANITIZE)
    set(dlor_cc_sanitize "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer")
  endif()
  dlor_py_test(test_one_file_runtime test_one_file_runtime.py)
  set_tests_properties(test_one_file_runtime PROPERTIES TIMEOUT 600 ENVIRONMENT
    "${DLOR_PY_TEST_ENV};DLOR_ONE_FILE_DIR=${DLOR_AMALGAMATION_DIR};DLOR_CC=${CMAKE_C_COMPILER};DLOR_CC_SANITIZE=${dlor_cc_sanitize};DLOR_RUNTIME_ARCHIVE=$<TARGET_FILE:dlor_runtime>")
  # ... for microcontrollers as the runtime's sources are (check_firmware_build.sh), freestanding and
  # pedantic too; skipped without arm-none-eabi-gcc.
  add_test(NAME one_file_runtime_firmware_build
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_firmware_build.sh ${CMAKE_CURRENT_BINARY_DIR}/fwbuild-one
                   "-I${DLOR_AMALGAMATION_DIR} -pedantic -ffreestanding" ${DLOR_AMALGAMATION_DIR}/dlor_runtime.c)
  set_tests_properties(one_file_runtime_firmware_build PROPERTIES SKIP_RETURN_CODE 77)
endif()
