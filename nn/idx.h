// IDX: the file format of MNIST and Fashion-MNIST, read straight from the .gz files.
//
// An IDX file is a tiny header followed by raw bytes:
//
//   magic  (4 bytes)  0x00 0x00 <type> <number of dimensions>   type 0x08 = unsigned byte
//   sizes  (4 bytes each, big-endian), one per dimension
//   data   (product of the sizes, row-major)
//
// Images are 3-D (magic 0x00000803: count x rows x cols), labels 1-D (magic 0x00000801).
// Every size in the header is checked against the bytes that follow, so a truncated
// download or a swapped file fails here with a message naming the file and the problem,
// instead of training on garbage later.
//
// Example:
//   nn::IdxImages images = nn::read_idx_images("data/t10k-images-idx3-ubyte.gz");
//   std::vector<uint8_t> labels = nn::read_idx_labels("data/t10k-labels-idx1-ubyte.gz");
//   // images.count == 10000, images.rows == images.cols == 28,
//   // images.pixels[i * 784 + r * 28 + c] is pixel (r, c) of image i, 0 (black) .. 255.
#pragma once
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "autodiff/shape.h"

namespace nn {

// Thrown by the loaders in nn/ (IDX, datasets, PNG images) for a missing, unreadable
// or malformed file. The message starts with the file's name and says what was wrong.
class DataError : public ad::Error {
 public:
  using ad::Error::Error;
};

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

struct IdxImages {
  int64_t count = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols bytes, image after image
};

// Both accept gzip-compressed files (any name) and plain files: zlib reads a file
// that is not gzip-compressed as it is. A name ending in ".gz" must be gzip, though,
// since a plain file there usually means a broken download.
IdxImages read_idx_images(const std::filesystem::path& path);
std::vector<uint8_t> read_idx_labels(const std::filesystem::path& path);

}  // namespace nn
