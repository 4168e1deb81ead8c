#include "nn/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <sstream>
#include <string>
#include <system_error>

namespace ad {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(int os_error, const fs::path& path, std::string_view step) {
  std::string what = "cannot write '" + path.string() + "' (" + std::string(step) + ")";
  throw std::system_error(os_error, std::generic_category(), what);
}

// Opens a new, uniquely named file next to `path`. The name is hidden (leading dot)
// and carries the process id, so concurrent writers never share a temporary file.
int create_temporary_next_to(const fs::path& path, fs::path& temporary) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = "." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                       std::to_string(counter++);
    temporary = path.parent_path() / name;
    // 0666 minus the umask: the same permissions an ordinary new file gets.
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) fail(errno, path, "creating a temporary file");
    // A leftover from a crashed process with the same pid: try the next name.
  }
  fail(EEXIST, path, "creating a temporary file");
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;  // interrupted by a signal: just retry
      throw std::system_error(errno, std::generic_category());
    }
    bytes.remove_prefix(static_cast<size_t>(written));  // short writes are legal
  }
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  if (!path.has_filename()) fail(EISDIR, path, "the path names no file");

  if (fs::path parent = path.parent_path(); !parent.empty()) {
    std::error_code error;
    fs::create_directories(parent, error);
    if (error) fail(error.value(), path, "creating directory '" + parent.string() + "'");
  }

  fs::path temporary;
  int fd = create_temporary_next_to(path, temporary);
  try {
    write_all(fd, bytes);
    // Flush to disk before the rename, so that after a power cut the new name
    // cannot point at a file whose data never arrived.
    if (::fsync(fd) != 0) throw std::system_error(errno, std::generic_category());
  } catch (const std::system_error& e) {
    ::close(fd);
    ::unlink(temporary.c_str());
    fail(e.code().value(), path, "writing '" + temporary.string() + "'");
  }
  if (::close(fd) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    fail(error, path, "closing '" + temporary.string() + "'");
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    fail(error, path, "renaming '" + temporary.string() + "' over it");
  }
}

void write_file_atomic(const fs::path& path,
                       const std::function<void(std::ostream&)>& write_contents) {
  // Collect everything in memory first: if the callback throws, no file is touched.
  std::ostringstream contents;
  write_contents(contents);
  write_file_atomic(path, contents.view());
}

}  // namespace ad
