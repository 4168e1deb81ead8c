#include "nn/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <sstream>
#include <string>
#include <system_error>

#include "autodiff/shape.h"

namespace ad {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(int os_error, const fs::path& path, std::string_view step) {
  throw Error("cannot write '" + path.string() + "' (" + std::string(step) + "): " +
              std::generic_category().message(os_error));
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

// Writes every byte; returns 0, or the errno of the write that failed.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;  // interrupted by a signal: just retry
      return errno;
    }
    bytes.remove_prefix(static_cast<size_t>(written));  // short writes are legal
  }
  return 0;
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
  int error = write_all(fd, bytes);
  // Flush to disk before the rename, so that after a power cut the new name
  // cannot point at a file whose data never arrived.
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (error != 0) {
    ::close(fd);
    ::unlink(temporary.c_str());
    fail(error, path, "writing '" + temporary.string() + "'");
  }
  if (::close(fd) != 0) {
    error = errno;
    ::unlink(temporary.c_str());
    fail(error, path, "closing '" + temporary.string() + "'");
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    error = errno;
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
