# The HTML report of 'dlor verify --html': the SVG renderer (lib/report/) on
# hostile values, the spectra it draws (lib/spectrum.c) against numpy, and whole
# pages opened in headless Chromium (console errors, requests, layout, screenshots).

add_executable(test_html_report ${CMAKE_CURRENT_SOURCE_DIR}/test_html_report.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_include_directories(test_html_report PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_html_report PRIVATE dlor_report)
add_test(NAME test_html_report COMMAND test_html_report)
set_tests_properties(test_html_report PROPERTIES ENVIRONMENT "DLOR_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp")

# The page of 'dlor reproduce --html' from a hand-made report (mismatches, failures, hostile values).
add_executable(test_reproduce_html ${CMAKE_CURRENT_SOURCE_DIR}/test_reproduce_html.c ${CMAKE_CURRENT_SOURCE_DIR}/testutil.c)
target_include_directories(test_reproduce_html PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_reproduce_html PRIVATE dlor_paper)
add_test(NAME test_reproduce_html COMMAND test_reproduce_html)
set_tests_properties(test_reproduce_html PROPERTIES ENVIRONMENT "DLOR_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp")

# Prints the spectra the report draws, for the numpy comparison.
add_executable(html_spectrum_dump tools/html_spectrum_dump.c)
target_link_libraries(html_spectrum_dump PRIVATE dlor_core dlor_dump_common)

if(Python3_Interpreter_FOUND)
  set(DLOR_HTML_TEST_ENV
    "DLOR_BIN=$<TARGET_FILE:dlor>;DLOR_HTML_SPECTRUM=$<TARGET_FILE:html_spectrum_dump>;DLOR_HTML_UNIT=$<TARGET_FILE:test_html_report>;DLOR_REPRO_UNIT=$<TARGET_FILE:test_reproduce_html>;DLOR_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;DLOR_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  add_test(NAME test_html_spectrum COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_html_spectrum.py)
  set_tests_properties(test_html_spectrum PROPERTIES ENVIRONMENT "${DLOR_HTML_TEST_ENV}" TIMEOUT 600)
  # Needs Debian's chromium (scripts/setup.sh installs it with DLOR_WITH_PYTHON=1);
  # screenshots for inspection land in tests/tmp/html/ of the build tree.
  add_test(NAME test_html COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_html.py)
  set_tests_properties(test_html PROPERTIES ENVIRONMENT "${DLOR_HTML_TEST_ENV}" TIMEOUT 900)
endif()
