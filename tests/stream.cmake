# Streamed conversion: the same bytes whatever --jobs, the forms the options ask (numpy as the
# oracle), and peak memory against the plan's estimate (test_stream_convert.py).
dlor_py_test(test_stream_convert test_stream_convert.py)
