# Whole checkpoints: what converts by default (tensor roles), the plan and its refusals, per-layer
# targets (--set, --plan) and their shards, progress lines, the verdict of verify, calibration of
# transformers (test_checkpoints.py).
dlor_py_test(test_checkpoints test_checkpoints.py)
# The plan's rates scaled to the machine as it runs; one BLAS thread per conversion task
# (test_plan_speed.py).
dlor_py_test(test_plan_speed test_plan_speed.py)
