# Embeds a file into C++ as a byte array and a function returning it as a std::string_view:
#
#   cmake -DINPUT=<file> -DOUTPUT=<file.cpp> -DHEADER=<include as written> -DNAMESPACE=<ns>
#         -DFUNCTION=<name> -P embed_file.cmake
#
# A byte array rather than a raw string literal: any byte can be embedded (no delimiter that the
# file might contain), and no compiler warns about string literals over 4095 bytes (-Wpedantic's
# -Woverlength-strings). The output is rewritten only when its content changes, so an unchanged
# input does not recompile it.
foreach(var INPUT OUTPUT HEADER NAMESPACE FUNCTION)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "embed_file.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${INPUT}")
  message(FATAL_ERROR "embed_file.cmake: ${INPUT} does not exist")
endif()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
if(hex_length EQUAL 0)
  message(FATAL_ERROR "embed_file.cmake: ${INPUT} is empty")
endif()
math(EXPR byte_count "${hex_length} / 2")
# "3c21..." -> "0x3c,0x21,...", 16 bytes to a line (CMake's regex has no {16}: spelled out)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 sixteen)
string(REGEX REPLACE "(${sixteen})" "\\1\n    " bytes "${bytes}")
get_filename_component(input_name "${INPUT}" NAME)

file(WRITE "${OUTPUT}.tmp" "// Generated from ${input_name} by cmake/embed_file.cmake at build time: do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {
namespace {

// clang-format off
constexpr unsigned char kBytes[${byte_count}] = {
    ${bytes}
};
// clang-format on

}  // namespace

std::string_view ${FUNCTION}() {
  return {reinterpret_cast<const char*>(kBytes), sizeof kBytes};
}

}  // namespace ${NAMESPACE}
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
