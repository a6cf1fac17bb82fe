# libdlor as a shared library, and what 'cmake --install' puts where: the two
# public headers (dlor.h; dlor_runtime.h as the one-file runtime writes it,
# self-contained), the libraries, dlor.pc, the CMake package (find_package(dlor)
# gives dlor::dlor), the dlor command and its man page.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The functions the public headers declare: what libdlor.so exports, and what
# tests/check_exports.sh expects to find there.
# (dlor_runtime.h includes the image view of formats/dlor_image.h, which the
# installed, self-contained dlor_runtime.h carries inline)
set(DLOR_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/include/dlor.h ${PROJECT_SOURCE_DIR}/include/dlor_runtime.h
                        ${PROJECT_SOURCE_DIR}/formats/dlor_image.h)
set(DLOR_PUBLIC_FUNCTIONS)
foreach(h ${DLOR_PUBLIC_HEADERS})
  file(STRINGS ${h} decls REGEX "^[A-Za-z].*[ *]dlor_[a-z0-9_]+\\(")
  foreach(d ${decls})
    if(NOT d MATCHES "^static" AND d MATCHES "[ *](dlor_[a-z0-9_]+)\\(")
      list(APPEND DLOR_PUBLIC_FUNCTIONS ${CMAKE_MATCH_1})
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES DLOR_PUBLIC_FUNCTIONS)
list(SORT DLOR_PUBLIC_FUNCTIONS)
list(JOIN DLOR_PUBLIC_FUNCTIONS ";\n    " dlor_exports)
file(WRITE ${PROJECT_BINARY_DIR}/libdlor.map "{\n  global:\n    ${dlor_exports};\n  local: *;\n};\n")
string(REPLACE ";" " " dlor_public_list "${DLOR_PUBLIC_FUNCTIONS}")
file(WRITE ${PROJECT_BINARY_DIR}/libdlor_public_functions.txt "${dlor_public_list}\n")

# The version of dlor.h must be the project's.
file(STRINGS ${PROJECT_SOURCE_DIR}/include/dlor.h dlor_hv REGEX "^#define DLOR_VERSION_(MAJOR|MINOR|PATCH) ")
string(REGEX REPLACE "[^0-9;]" "" dlor_hv "${dlor_hv}")
list(JOIN dlor_hv "." dlor_hv)
if(NOT dlor_hv STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "include/dlor.h says version ${dlor_hv}, the project ${PROJECT_VERSION}")
endif()

# The static parts of libdlor, in link order.
set(DLOR_PARTS dlor_lib dlor_report dlor_core dlor_formats dlor_pool dlor_runtime)

if(BUILD_SHARED_LIBS)
  add_library(dlor_shared SHARED lib/api/api_shared.c)
  set_target_properties(dlor_shared PROPERTIES OUTPUT_NAME dlor VERSION ${PROJECT_VERSION}
                        SOVERSION ${PROJECT_VERSION_MAJOR}
                        LINK_DEPENDS ${PROJECT_BINARY_DIR}/libdlor.map)
  target_link_libraries(dlor_shared PRIVATE -Wl,--whole-archive ${DLOR_PARTS} -Wl,--no-whole-archive
                        -Wl,--version-script=${PROJECT_BINARY_DIR}/libdlor.map -Wl,--no-undefined)
  set(DLOR_INSTALL_LIBS dlor_shared)
  set(DLOR_CONFIG_KIND SHARED)
  set(DLOR_CONFIG_FILE ${CMAKE_SHARED_LIBRARY_PREFIX}dlor${CMAKE_SHARED_LIBRARY_SUFFIX})
  set(DLOR_CONFIG_ARCHIVES "")
  set(DLOR_PC_LIBS "-ldlor")
else()
  set(DLOR_INSTALL_LIBS ${DLOR_PARTS})
  set(DLOR_CONFIG_KIND STATIC)
  set(DLOR_CONFIG_FILE ${CMAKE_STATIC_LIBRARY_PREFIX}dlor${CMAKE_STATIC_LIBRARY_SUFFIX})
  set(DLOR_CONFIG_ARCHIVES "")
  foreach(p ${DLOR_PARTS})
    if(NOT p STREQUAL dlor_lib)
      list(APPEND DLOR_CONFIG_ARCHIVES ${CMAKE_STATIC_LIBRARY_PREFIX}${p}${CMAKE_STATIC_LIBRARY_SUFFIX})
      string(APPEND dlor_pc_parts " -l${p}")
    endif()
  endforeach()
  set(DLOR_PC_LIBS "-ldlor${dlor_pc_parts}")
endif()

# What libdlor needs from the system: the static archives need it at link time,
# the shared library only for static linking (Libs.private).
set(dlor_pc_system "-llapacke -lopenblas -lz -lm -lpthread")
set(DLOR_CONFIG_SYSTEM_LIBS "\"${DLOR_LAPACKE_LIB}\" \"${DLOR_OPENBLAS_LIB}\" ZLIB::ZLIB")
if(DLOR_MATH_LIB)
  string(APPEND DLOR_CONFIG_SYSTEM_LIBS " \"${DLOR_MATH_LIB}\"")
endif()
set(DLOR_CONFIG_LINK_OPTIONS "")
if(DLOR_SANITIZE)  # a program linking the instrumented library needs the sanitizer runtimes
  string(PREPEND dlor_pc_system "-fsanitize=address,undefined ")
  set(DLOR_CONFIG_LINK_OPTIONS "-fsanitize=address,undefined")
endif()
if(BUILD_SHARED_LIBS)
  set(DLOR_PC_LIBS_PRIVATE "${dlor_pc_system}")
  if(DLOR_SANITIZE)
    set(DLOR_PC_LIBS "-fsanitize=address,undefined ${DLOR_PC_LIBS}")
  endif()
else()
  set(DLOR_PC_LIBS "${DLOR_PC_LIBS} ${dlor_pc_system}")
  set(DLOR_PC_LIBS_PRIVATE "")
endif()
# prefix relative to the .pc file, so the installed tree can move
file(RELATIVE_PATH DLOR_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/dlor.pc.in ${PROJECT_BINARY_DIR}/dlor.pc @ONLY)
configure_package_config_file(cmake/dlorConfig.cmake.in ${PROJECT_BINARY_DIR}/dlorConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dlor
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
# the config finds zlib itself (ZLIB::ZLIB)
file(READ ${PROJECT_BINARY_DIR}/dlorConfig.cmake dlor_cfg)
string(REPLACE "find_dependency(Threads)" "find_dependency(Threads)\nfind_dependency(ZLIB)" dlor_cfg "${dlor_cfg}")
file(WRITE ${PROJECT_BINARY_DIR}/dlorConfig.cmake "${dlor_cfg}")
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dlorConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)

install(TARGETS ${DLOR_INSTALL_LIBS} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS dlor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/dlor.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(DLOR_AMALGAMATION_DIR)
  install(FILES ${DLOR_AMALGAMATION_DIR}/dlor_runtime.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
else()
  message(WARNING "python3 not found: 'cmake --install' cannot install dlor_runtime.h (the one-file runtime's "
                  "self-contained header)")
endif()
install(FILES ${PROJECT_BINARY_DIR}/dlor.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${PROJECT_BINARY_DIR}/dlorConfig.cmake ${PROJECT_BINARY_DIR}/dlorConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dlor)

# The man page, from the command's own help texts (scripts/make_manpage.py).
if(Python3_Interpreter_FOUND)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/dlor.1
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/make_manpage.py $<TARGET_FILE:dlor>
            ${PROJECT_VERSION} ${PROJECT_BINARY_DIR}/dlor.1
    DEPENDS dlor ${PROJECT_SOURCE_DIR}/scripts/make_manpage.py
    COMMENT "Writing the man page dlor.1 from the command's help")
  add_custom_target(dlor_manpage ALL DEPENDS ${PROJECT_BINARY_DIR}/dlor.1)
  install(FILES ${PROJECT_BINARY_DIR}/dlor.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
