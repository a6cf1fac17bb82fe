# dlor bench: its figures are consistent (not its speed: timings belong to benchmarks, not tests).
dlor_py_test(test_bench test_bench.py)
