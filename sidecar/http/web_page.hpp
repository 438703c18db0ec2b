// The live page served at GET / (docs/http.md): sidecar/http/web/index.html, one self-contained
// file embedded into the binary at build time by cmake/embed_file.cmake (the generated
// web_page.cpp in the build tree defines this). Editing index.html rebuilds it.
#pragma once

#include <string_view>

namespace shmlog::sidecar {

// The page's bytes (UTF-8 HTML), static for the life of the program.
std::string_view web_page();

}  // namespace shmlog::sidecar
