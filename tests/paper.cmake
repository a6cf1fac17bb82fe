# The paper's experiments (paper/, dlor reproduce): the H.2 models, the trainer and the
# spectral split; the reproduce page is tested with the HTML reports (html.cmake).
dlor_c_test(test_paper ${CMAKE_CURRENT_SOURCE_DIR}/test_paper.c)
target_link_libraries(test_paper PRIVATE dlor_paper)
