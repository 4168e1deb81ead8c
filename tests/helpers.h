// Small helpers shared by the test suites: temporary folders, reading files back, and
// catching the message of an expected exception.
#pragma once
#include <doctest/doctest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace test_helpers {

namespace fs = std::filesystem;

// What the tests put before a tutorial's path to run it: the program named by the
// environment variable TUTORIAL_RUNNER and a space, or nothing. `make cross-test` sets it
// to qemu-aarch64, which runs the arm64 tutorials on an x86-64 machine.
inline std::string tutorial_runner() {
  const char* runner = std::getenv("TUTORIAL_RUNNER");
  return runner != nullptr && *runner != '\0' ? std::string(runner) + " " : std::string();
}

// A fresh folder under the system's temp folder, removed with everything in it when the
// object goes out of scope. mkdtemp makes its name unique, so test runs that go on at the
// same time on one machine never share a folder.
struct TemporaryFolder {
  fs::path path;
  explicit TemporaryFolder(std::string_view prefix = "test") {
    std::string name = (fs::temp_directory_path() / (std::string(prefix) + "_XXXXXX")).string();
    if (::mkdtemp(name.data()) == nullptr)
      FAIL("cannot create a temporary folder ", name, ": ", std::strerror(errno));
    path = name;
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
};

// The 4 bytes of an IDX header field (big-endian).
inline std::string big_endian(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

// The bytes of an IDX images file: header (magic 0x00000803 unless given), then the pixels.
inline std::string idx_images(uint32_t count, uint32_t rows, uint32_t cols,
                              const std::vector<uint8_t>& pixels, uint32_t magic = 0x00000803) {
  return big_endian(magic) + big_endian(count) + big_endian(rows) + big_endian(cols) +
         std::string(pixels.begin(), pixels.end());
}

// The bytes of an IDX labels file (magic 0x00000801).
inline std::string idx_labels(const std::vector<uint8_t>& labels) {
  return big_endian(0x00000801) + big_endian(static_cast<uint32_t>(labels.size())) +
         std::string(labels.begin(), labels.end());
}

inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Runs f and returns the message of the exception of type E it throws; a test failure
// (and "") when it throws nothing.
template <class E = std::exception, class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL_CHECK("expected an exception, none was thrown");
  return "";
}

}  // namespace test_helpers
