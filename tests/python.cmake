# The Python package (python/): its numpy reader, the command wrappers and `pip install`
# with the pip Python; dlor.torch and the fine-tuning sample with Debian's /usr/bin/python3,
# which has PyTorch (python3-torch; the tests report themselves skipped without it).
dlor_py_test(python_reader ../python/tests/test_reader.py)
set_tests_properties(python_reader PROPERTIES TIMEOUT 600)
dlor_py_test(python_dag ../python/tests/test_dag.py)
set_tests_properties(python_dag PROPERTIES TIMEOUT 600)
dlor_py_test(python_commands ../python/tests/test_commands.py)
dlor_py_test(python_install ../python/tests/test_install.py)
if(EXISTS /usr/bin/python3)
  foreach(t torch finetune)
    add_test(NAME python_${t} COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/python/tests/test_${t}.py)
    set_tests_properties(python_${t} PROPERTIES ENVIRONMENT "${DLOR_PY_TEST_ENV}" SKIP_RETURN_CODE 77)
  endforeach()
else()
  message(STATUS "/usr/bin/python3 not found: the dlor.torch tests will not be registered")
endif()
