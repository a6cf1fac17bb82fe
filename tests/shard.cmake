# convert --shard I/N and dlor merge: the merged file equals a one-process conversion byte for byte.
dlor_py_test(test_shard test_shard.py)
