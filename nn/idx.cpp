#include "nn/idx.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

namespace nn {
namespace fs = std::filesystem;

namespace {

// Larger than any real IDX file (MNIST train is 47 MB) but small enough that a garbled
// header cannot make the size arithmetic overflow.
constexpr double kMaxDataBytes = 1ull << 36;

// A file read through zlib: gzip-compressed or plain, the caller sees the same bytes.
class GzipReader {
 public:
  explicit GzipReader(const fs::path& path) : path_(path) {
    std::error_code error;
    fs::file_status status = fs::status(path, error);
    if (!fs::exists(status)) fail("no such file");
    if (fs::is_directory(status)) fail("is a directory, not a file");
    if (!fs::is_regular_file(status)) fail("not a regular file");

    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) fail(fmt::format("cannot open it ({})", std::strerror(errno)));
    // gzdirect() is true when zlib found no gzip header and passes the bytes through.
    if (path.extension() == ".gz" && gzdirect(file_)) {
      gzclose(file_);  // a constructor that throws gets no destructor call: close it here
      fail("not gzip-compressed although the name ends in .gz (a broken download?)");
    }
  }
  ~GzipReader() { gzclose(file_); }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  // Reads up to `n` bytes and returns how many it got: fewer only at the end of the data.
  size_t read(void* buffer, size_t n) {
    size_t total = 0;
    while (total < n) {
      // gzread takes an unsigned int count, so large reads go in pieces.
      unsigned piece = static_cast<unsigned>(std::min<size_t>(n - total, 1u << 30));
      int got = gzread(file_, static_cast<char*>(buffer) + total, piece);
      if (got < 0) fail_with_zlib_error("cannot decompress it");
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    return total;
  }

  // Why the data ended early, if zlib knows: a gzip stream that stops mid-way.
  std::string early_end_reason() const {
    int code = Z_OK;
    gzerror(file_, &code);
    return code == Z_BUF_ERROR ? "; the gzip stream itself is cut off" : "";
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(fmt::format("{}: {}", path_.string(), what));
  }

 private:
  [[noreturn]] void fail_with_zlib_error(const std::string& what) const {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (code == Z_ERRNO) message = std::strerror(errno);
    fail(fmt::format("{} (zlib: {})", what, message));
  }

  fs::path path_;
  gzFile file_ = nullptr;
};

uint32_t big_endian_u32(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

std::string describe_magic(uint32_t magic) {
  if (magic == kIdxImagesMagic) return "uint8 images, 3 dimensions";
  if (magic == kIdxLabelsMagic) return "uint8 labels, 1 dimension";
  return "not an MNIST images or labels file";
}

struct IdxContents {
  std::vector<int64_t> sizes;  // one per dimension, from the header
  std::vector<uint8_t> data;
};

// Reads a whole IDX file whose magic must be `expected_magic`. `item` names the data
// in messages ("pixels", "labels").
IdxContents read_idx(const fs::path& path, uint32_t expected_magic, const char* item) {
  GzipReader file(path);

  std::array<uint8_t, 4> magic_bytes{};
  size_t got = file.read(magic_bytes.data(), 4);
  if (got == 0) file.fail("the file is empty");
  if (got < 4) file.fail(fmt::format("only {} bytes long, too short for an IDX header", got));
  uint32_t magic = big_endian_u32(magic_bytes.data());
  if (magic != expected_magic)
    file.fail(fmt::format("wrong magic number 0x{:08x} ({}), expected 0x{:08x} ({})", magic,
                          describe_magic(magic), expected_magic, describe_magic(expected_magic)));

  // The magic's last byte is the number of dimensions; each size is 4 bytes.
  const int rank = static_cast<int>(expected_magic & 0xff);
  std::vector<uint8_t> header(4 * rank);
  got = file.read(header.data(), header.size());
  if (got < header.size())
    file.fail(fmt::format("the header ends after {} of its {} bytes (truncated?)", 4 + got,
                          4 + header.size()));

  IdxContents contents;
  double expected_bytes = 1;
  for (int d = 0; d < rank; ++d) {
    uint32_t size = big_endian_u32(&header[4 * d]);
    if (size == 0) file.fail(fmt::format("dimension {} of the header is 0", d));
    contents.sizes.push_back(size);
    expected_bytes *= size;
  }
  if (expected_bytes > kMaxDataBytes)
    file.fail(fmt::format(
        "the header's sizes {} promise {:.2g} bytes of {}, more than the 64 GiB any "
        "MNIST-format file could hold (garbled header?)",
        fmt::join(contents.sizes, " x "), expected_bytes, item));

  // Read in chunks, reserving at most 256 MiB up front, so that a garbled header on a
  // small file fails with "found N bytes" and not by exhausting memory.
  const size_t expected = static_cast<size_t>(expected_bytes);
  constexpr size_t kChunk = 1 << 22;
  contents.data.reserve(std::min<size_t>(expected, 1 << 28));  // MNIST in one allocation
  while (contents.data.size() < expected) {
    size_t old_size = contents.data.size();
    size_t want = std::min(kChunk, expected - old_size);
    contents.data.resize(old_size + want);
    size_t chunk_got = file.read(contents.data.data() + old_size, want);
    contents.data.resize(old_size + chunk_got);
    if (chunk_got < want) break;
  }
  if (contents.data.size() < expected)
    file.fail(fmt::format("expected {} bytes of {} after the header, found {} (truncated?{})",
                          expected, item, contents.data.size(), file.early_end_reason()));

  // Anything after the promised data means the header's sizes do not describe the file.
  size_t extra = 0;
  std::array<uint8_t, 4096> scratch;
  while (size_t n = file.read(scratch.data(), scratch.size())) extra += n;
  if (extra > 0)
    file.fail(
        fmt::format("expected {} bytes of {} after the header, found {} ({} extra bytes: "
                    "the header's sizes do not match the file)",
                    expected, item, expected + extra, extra));
  return contents;
}

}  // namespace

IdxImages read_idx_images(const fs::path& path) {
  IdxContents contents = read_idx(path, kIdxImagesMagic, "pixels");
  IdxImages images;
  images.count = contents.sizes[0];
  images.rows = contents.sizes[1];
  images.cols = contents.sizes[2];
  images.pixels = std::move(contents.data);
  return images;
}

std::vector<uint8_t> read_idx_labels(const fs::path& path) {
  return read_idx(path, kIdxLabelsMagic, "labels").data;
}

}  // namespace nn
