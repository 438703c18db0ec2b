# Install rules: headers, the static library, a CMake package (find_package(shmlog CONFIG) gives
# shmlog::shmlog), a pkg-config file, and the shmlog program when it is built.
#
#   cmake --install build/gcc --prefix /opt/shmlog                      # everything
#   cmake --install build/gcc --prefix /usr --component shmlog_Runtime  # the program only
#
# Components: shmlog_Development (headers, library, package files), shmlog_Runtime (program).
include(CMakePackageConfigHelpers)

set(SHMLOG_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/shmlog"
    CACHE STRING "Where shmlogConfig.cmake goes, relative to the prefix")
set(SHMLOG_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where shmlog.pc goes, relative to the prefix")

# ---- headers and library ----
# The whole public tree, detail/ included: the inline hot path lives there.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/shmlog"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT shmlog_Development
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

install(TARGETS shmlog EXPORT shmlogTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT shmlog_Development
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT shmlog_Development
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT shmlog_Development)

# ---- CMake package ----
install(EXPORT shmlogTargets
        NAMESPACE shmlog::
        FILE shmlogTargets.cmake
        DESTINATION "${SHMLOG_INSTALL_CMAKEDIR}"
        COMPONENT shmlog_Development)

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/shmlogConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/shmlogConfig.cmake"
  INSTALL_DESTINATION "${SHMLOG_INSTALL_CMAKEDIR}")
# Until 1.0 a minor release may break the API; SameMajorVersion is what we promise from 1.0 on.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/shmlogConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/cmake/shmlogConfig.cmake"
              "${PROJECT_BINARY_DIR}/cmake/shmlogConfigVersion.cmake"
        DESTINATION "${SHMLOG_INSTALL_CMAKEDIR}"
        COMPONENT shmlog_Development)

# ---- pkg-config ----
# A static library's own dependencies must reach the link line of a plain
# `pkg-config --libs shmlog`, so they are public for a static build and private only for a shared
# one (where the linker finds them through libshmlog.so itself).
get_target_property(_shmlog_type shmlog TYPE)
if(_shmlog_type STREQUAL "STATIC_LIBRARY")
  set(SHMLOG_PC_REQUIRES "fmt")
  set(SHMLOG_PC_REQUIRES_PRIVATE "")
  set(SHMLOG_PC_LIBS_EXTRA " -pthread")
  set(SHMLOG_PC_LIBS_PRIVATE "")
else()
  set(SHMLOG_PC_REQUIRES "")
  set(SHMLOG_PC_REQUIRES_PRIVATE "fmt")
  set(SHMLOG_PC_LIBS_EXTRA "")
  set(SHMLOG_PC_LIBS_PRIVATE "-pthread")
endif()
unset(_shmlog_type)
foreach(_dir IN ITEMS LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(SHMLOG_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(SHMLOG_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
# The prefix is only known at install time (`cmake --install --prefix` overrides the configured
# one), so the file is configured twice: everything else now, the prefix by the install script.
set(SHMLOG_PC_PREFIX "@SHMLOG_PC_PREFIX@")
configure_file("${CMAKE_CURRENT_LIST_DIR}/shmlog.pc.in" "${PROJECT_BINARY_DIR}/cmake/shmlog.pc.in" @ONLY)
install(CODE "
  set(SHMLOG_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/cmake/shmlog.pc.in\" \"${PROJECT_BINARY_DIR}/cmake/shmlog.pc\" @ONLY)
" COMPONENT shmlog_Development)
install(FILES "${PROJECT_BINARY_DIR}/cmake/shmlog.pc"
        DESTINATION "${SHMLOG_INSTALL_PKGCONFIGDIR}"
        COMPONENT shmlog_Development)

# ---- the shmlog program (sidecar/) ----
if(TARGET shmlog_cli)
  install(TARGETS shmlog_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT shmlog_Runtime)
endif()
