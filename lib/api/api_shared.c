/* api_shared.c - libdlor.so's own source: the library is the static parts
 * linked whole (cmake/install.cmake), with only the public API exported. */
typedef int dlor__shared_library;
