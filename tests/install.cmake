# libdlor as users get it (tests/check_install.sh): installed into a temporary
# prefix and used through pkg-config and find_package(dlor); a shared build whose
# exports are the public API.
foreach(mode pkgconfig find_package exports)
  add_test(NAME install_${mode}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_install.sh ${mode} ${PROJECT_BINARY_DIR}
                   ${PROJECT_SOURCE_DIR} ${CMAKE_C_COMPILER} ${DLOR_SANITIZE})
endforeach()
set_tests_properties(install_exports PROPERTIES TIMEOUT 1800)
