# Registers the installed-package test; included from tests/CMakeLists.txt.
# Skipped under sanitizers: the installed library would need the same -fsanitize flags in every
# consumer, which is not what this test is about (the plain gcc and clang stages run it).
if(NOT SHMLOG_SANITIZE)
  add_test(NAME install_package
           COMMAND "${CMAKE_CURRENT_LIST_DIR}/run.sh" "${PROJECT_BINARY_DIR}" "${CMAKE_CXX_COMPILER}")
  # Two small configure+build runs; generous for a loaded 2-core machine.
  set_tests_properties(install_package PROPERTIES TIMEOUT 300 LABELS "install")
endif()
