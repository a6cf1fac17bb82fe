# Streamed conversion: the same bytes whatever --jobs, the forms the options ask (numpy as the
# oracle), and peak memory against the plan's estimate (test_stream_convert.py; not under the
# sanitizers, whose shadow memory and quarantine are most of a run's pages).
if(Python3_Interpreter_FOUND)
  dlor_py_test(test_stream_convert test_stream_convert.py)
  if(DLOR_SANITIZE)
    set_tests_properties(test_stream_convert PROPERTIES ENVIRONMENT "${DLOR_PY_TEST_ENV};DLOR_TEST_NO_RSS=1")
  endif()
endif()
