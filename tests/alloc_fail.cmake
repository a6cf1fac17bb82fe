# Failing allocator: every allocation of dlor's own code (the static libraries)
# fails once while the samples are loaded, converted, verified, run and
# exported, through the public API (dlor.h) and the commands; each run must end in a clean error with nothing leaked and no file
# left behind (tests/test_alloc_fail.c).
dlor_c_test(test_alloc_fail test_alloc_fail.c)
target_link_libraries(test_alloc_fail PRIVATE dlor_cmd
  "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=strdup,--wrap=posix_memalign")
set_tests_properties(test_alloc_fail PROPERTIES TIMEOUT 1800)
set_property(TEST test_alloc_fail APPEND PROPERTY ENVIRONMENT
  "DLOR_SOURCE_DIR=${PROJECT_SOURCE_DIR};OPENBLAS_NUM_THREADS=1")
