// write_file_atomic: replace a file's contents all at once.
//
// The bytes go to a temporary file in the same directory, which is then renamed over
// the target. rename() within one file system is atomic, so a reader (an image viewer,
// a tutorial loading a checkpoint, a second process) sees either the old file or the
// complete new one, never a half-written file; if the program dies midway, the old
// file is untouched and only a hidden ".name.tmp-*" file may be left behind.
//
// Parent directories are created as needed. On failure an ad::Error is thrown whose
// message names the file, the step that failed and the OS error.
//
// Example:
//   ad::write_file_atomic("out/run/loss.csv", "step,loss\n0,1.5\n");
//   ad::write_file_atomic("out/run/graph.dot", [&](std::ostream& os) { os << "digraph {}\n"; });
#pragma once
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string_view>

namespace ad {

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// The callback writes the contents to a stream. Nothing is written to disk if it
// throws (the exception propagates).
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& write_contents);

}  // namespace ad
