# Hostile input and output safety, driving the dlor binary and the libraries:
#   test_corruption      every byte change and truncation of a real .dlor sample is detected
#   test_output_safety   writes that hit a file-size limit fail cleanly; existing outputs stay
#   test_limits          one past every documented limit is refused with a message
#   test_cross_cases     formats.md section 7, cases 51-65 (GGUF, empty, huge, shrinking, polyglot files)
foreach(t test_corruption test_output_safety test_limits test_cross_cases)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
    dlor_c_test(${t} ${t}.c testrun.c)
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
      "DLOR_BIN=$<TARGET_FILE:dlor>;DLOR_SOURCE_DIR=${PROJECT_SOURCE_DIR};OPENBLAS_NUM_THREADS=1")
    set_tests_properties(${t} PROPERTIES TIMEOUT 900)
  endif()
endforeach()
# case 64 simulates a file that shrinks while it is read
target_link_libraries(test_cross_cases PRIVATE "-Wl,--wrap=read")
