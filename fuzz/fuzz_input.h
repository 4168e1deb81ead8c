// What the fuzz targets share: the parsers read files, so each input is written to a
// file of this process first; and a target stops the fuzzer (abort) on anything but the
// parser's own documented error, which libFuzzer then reports as a crash with the input.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

namespace fuzz {

// A file in the temp folder named for this process and `name` ("input.gz"), holding the bytes.
inline std::filesystem::path write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("fuzz_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs `parse`, accepting only a normal return or an exception of type Expected.
template <class Expected, class F>
void expect_only(const char* what, F parse) {
  try {
    parse();
  } catch (const Expected&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s threw an unexpected exception: %s\n", what, e.what());
    std::abort();
  }
}

}  // namespace fuzz
