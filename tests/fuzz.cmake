# Fuzz targets (tests/fuzz/, see FUZZING.md), one property each. Every build
# replays the committed corpora through the targets with the normal compiler,
# so the sanitizer build checks them under ASan + UBSan; with DLOR_FUZZ=ON
# (clang) the libFuzzer binaries fuzz_<target> are built too
# (scripts/fuzz.sh builds and runs them).
set(DLOR_FUZZ_TARGETS safetensors npy npz onnx onnx_rewrite pt pickle dlor dlor_roundtrip runtime hf_config plan)
set(DLOR_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
foreach(t ${DLOR_FUZZ_TARGETS})
  add_executable(fuzz_replay_${t} ${DLOR_FUZZ_DIR}/fuzz_${t}.c ${DLOR_FUZZ_DIR}/fuzz_common.c
                                  ${DLOR_FUZZ_DIR}/replay_main.c)
  target_include_directories(fuzz_replay_${t} PRIVATE ${DLOR_FUZZ_DIR})
  target_link_libraries(fuzz_replay_${t} PRIVATE dlor_formats)
  if(t STREQUAL "plan")  # convert's plan files (lib/convert)
    target_link_libraries(fuzz_replay_${t} PRIVATE dlor_lib)
  endif()
  # the targets that take .dlor images also replay the shared image corpus (corpus/dlor)
  set(extra)
  if(t STREQUAL "runtime" OR t STREQUAL "dlor_roundtrip")
    set(extra ${DLOR_FUZZ_DIR}/corpus/dlor)
  endif()
  # the ONNX rewrite also replays the reader's corpus
  if(t STREQUAL "onnx_rewrite")
    set(extra ${DLOR_FUZZ_DIR}/corpus/onnx)
  endif()
  add_test(NAME fuzz_replay_${t} COMMAND fuzz_replay_${t} --min 5 ${DLOR_FUZZ_DIR}/corpus/${t} ${extra})
  set_tests_properties(fuzz_replay_${t} PROPERTIES TIMEOUT 600)
  if(DLOR_FUZZ)
    add_executable(fuzz_${t} ${DLOR_FUZZ_DIR}/fuzz_${t}.c ${DLOR_FUZZ_DIR}/fuzz_common.c)
    target_include_directories(fuzz_${t} PRIVATE ${DLOR_FUZZ_DIR})
    target_link_libraries(fuzz_${t} PRIVATE dlor_formats)
    if(t STREQUAL "plan")
      target_link_libraries(fuzz_${t} PRIVATE dlor_lib)
    endif()
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()
