# CMake toolchain file for bare-metal Arm Cortex-M with GNU Arm Embedded GCC
# (Debian: gcc-arm-none-eabi, libnewlib-arm-none-eabi):
#     cmake -S samples/embedded -B build-mcu -DCMAKE_TOOLCHAIN_FILE=samples/embedded/arm-none-eabi.cmake
# The processor flags (-mcpu, -mfloat-abi, -mfpu) are set per target by the
# project, so that one build makes programs for several boards.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(DLOR_ARM_PREFIX arm-none-eabi- CACHE STRING "prefix of the cross tools")
set(CMAKE_C_COMPILER ${DLOR_ARM_PREFIX}gcc)
set(CMAKE_AR ${DLOR_ARM_PREFIX}ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${DLOR_ARM_PREFIX}ranlib CACHE FILEPATH "")
set(CMAKE_OBJCOPY ${DLOR_ARM_PREFIX}objcopy CACHE FILEPATH "")
set(CMAKE_SIZE ${DLOR_ARM_PREFIX}size CACHE FILEPATH "")

# There is no operating system to link a test program for: check the compiler
# with a static library instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
