# convert --shard I/N and dlor merge: the merged file equals a one-process conversion byte for byte
# (test_shard_mpi: the README's mpirun recipe on two local ranks).
dlor_py_test(test_shard test_shard.py)
dlor_py_test(test_shard_mpi test_shard_mpi.py)
set_tests_properties(test_shard_mpi PROPERTIES SKIP_RETURN_CODE 77)
