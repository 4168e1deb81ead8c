#include "nn/image.h"

#include <fmt/format.h>
// Only the declarations: the implementations are compiled into libstb (linked -lstb).
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cmath>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "nn/atomic_file.h"

namespace nn {
namespace fs = std::filesystem;

// ---- single images ----

namespace {
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 8192 x 8192: far above any figure here

uint32_t big_endian_u32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// A PNG after its signature is a list of chunks: a 4-byte big-endian length, a 4-byte
// type, that many bytes of data and a 4-byte CRC, ending with IEND. Walking it before
// stb_image does is cheap and refuses a chunk that claims more bytes than the file holds:
// stb_image grows its buffer to a chunk's claimed length before reading it, so 80 bytes
// claiming a 2 GB IDAT chunk would cost 2 GB of memory first.
void check_png_chunks(const std::string& bytes, size_t start, const fs::path& path) {
  for (size_t at = start;;) {
    if (bytes.size() - at < 12)
      throw DataError(fmt::format("{}: ends at byte {} before its IEND chunk", path.string(), at));
    const uint64_t length = big_endian_u32(bytes, at);
    if (length > bytes.size() - at - 12)
      throw DataError(fmt::format(
          "{}: the chunk at byte {} claims {} bytes of data, but only {} remain in the file",
          path.string(), at, length, bytes.size() - at - 12));
    if (bytes.compare(at + 4, 4, "IEND") == 0) return;  // the chunk's type
    at += 12 + length;
  }
}
}  // namespace

Image read_png(const fs::path& path, Channels channels) {
  std::error_code error;
  if (!fs::is_regular_file(path, error))
    throw DataError(fmt::format("{}: {}", path.string(),
                                fs::exists(path, error) ? "not a regular file" : "no such file"));
  // The file is read once; everything below looks at these bytes.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Only PNGs: stb_image would also decode TGA, PNM and other formats whose few header
  // bytes can claim millions of raw pixels and then read zeros past the end for each one.
  static const std::string signature = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
  if (bytes.compare(0, signature.size(), signature) != 0)
    throw DataError(fmt::format(
        "{}: not a PNG file (it does not start with the 8-byte PNG signature)", path.string()));
  check_png_chunks(bytes, signature.size(), path);
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX));
  const int wanted = static_cast<int>(channels);
  int width = 0, height = 0, channels_in_file = 0;
  // The header first: a few bytes can claim a huge image, and decoding would allocate
  // for all of it before finding the data missing.
  if (stbi_info_from_memory(data, size, &width, &height, &channels_in_file) &&
      static_cast<int64_t>(width) * height > kMaxImagePixels)
    throw DataError(fmt::format("{}: claims {}x{} pixels, more than the {} this loader reads",
                                path.string(), width, height, kMaxImagePixels));
  uint8_t* pixels = stbi_load_from_memory(data, size, &width, &height, &channels_in_file, wanted);
  if (pixels == nullptr)
    throw DataError(
        fmt::format("{}: cannot decode it as an image ({})", path.string(), stbi_failure_reason()));
  if (width <= 0 || height <= 0) {  // never an image, whatever the decoder returned
    stbi_image_free(pixels);
    throw DataError(fmt::format("{}: cannot decode it as an image (it claims {}x{} pixels)",
                                path.string(), width, height));
  }
  Image image;
  image.width = width;
  image.height = height;
  image.channels = wanted;
  image.pixels.assign(pixels, pixels + static_cast<size_t>(width) * height * wanted);
  stbi_image_free(pixels);
  return image;
}

void write_png(const fs::path& path, const Image& image) {
  if (image.width <= 0 || image.height <= 0 || image.width > INT_MAX / 4 ||
      image.height > INT_MAX / 4 || (image.channels != 1 && image.channels != 3) ||
      static_cast<int64_t>(image.pixels.size()) != image.width * image.height * image.channels)
    throw ad::Error(
        fmt::format("write_png {}: not a valid image ({}x{}, {} channels, {} bytes)", path.string(),
                    image.width, image.height, image.channels, image.pixels.size()));
  // Encode into memory, then hand the bytes to write_file_atomic: stb_image_write's own
  // file writer would leave a half-written PNG behind if the program died midway.
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
  };
  const int w = static_cast<int>(image.width), h = static_cast<int>(image.height);
  const int c = static_cast<int>(image.channels);
  if (!stbi_write_png_to_func(append, &png, w, h, c, image.pixels.data(), w * c))
    throw DataError(fmt::format("{}: stb_image_write could not encode the PNG", path.string()));
  ad::write_file_atomic(path, png);
}

// ---- a folder of PNGs ----

ImageFolder load_png_folder(const fs::path& folder, Channels channels) {
  std::error_code error;
  if (!fs::is_directory(folder, error))
    throw DataError(fmt::format("{}: {}", folder.string(),
                                fs::exists(folder, error) ? "not a directory" : "no such folder"));
  ImageFolder result;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    std::string extension = entry.path().extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(), ::tolower);
    if (entry.is_regular_file() && extension == ".png") result.files.push_back(entry.path());
  }
  if (result.files.empty())
    throw DataError(fmt::format("{}: no .png files in this folder", folder.string()));
  std::sort(result.files.begin(), result.files.end());  // directory order is arbitrary

  std::vector<Image> images;
  for (const fs::path& file : result.files) {
    images.push_back(read_png(file, channels));
    const Image& first = images.front();
    const Image& image = images.back();
    if (image.width != first.width || image.height != first.height)
      throw DataError(fmt::format(
          "{}: is {}x{} pixels, but {} (the first image) is {}x{}; all images in the folder "
          "must have the same size",
          file.string(), image.width, image.height, result.files.front().filename().string(),
          first.width, first.height));
  }

  const int64_t n = static_cast<int64_t>(images.size()), c = images[0].channels;
  const int64_t h = images[0].height, w = images[0].width;
  result.images = ad::Tensor::zeros({n, c, h, w});
  float* values = result.images.data<float>();
  // Interleaved bytes (r g b r g b ...) to channel planes (r r ... g g ... b b ...).
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          values[((i * c + ch) * h + y) * w + x] = images[i].at(y, x, ch) / 255.0f;
  return result;
}

// ---- grids ----

namespace {

// A tensor of tiles, read out once as doubles in [N, C, H, W] order.
struct Tiles {
  int64_t count = 0, channels = 1, height = 0, width = 0;
  std::vector<double> values;
  double at(int64_t i, int64_t c, int64_t y, int64_t x) const {
    return values[((i * channels + c) * height + y) * width + x];
  }
};

Tiles tiles_from(const ad::Tensor& images, const GridOptions& options) {
  Tiles tiles;
  const ad::Shape& shape = images.shape();
  tiles.count = shape.empty() ? 0 : shape[0];
  if (shape.size() == 2) {
    const int64_t pixels = shape[1];
    tiles.height = options.tile_height, tiles.width = options.tile_width;
    if (tiles.height == 0 && tiles.width == 0) {
      tiles.height = tiles.width = std::llround(std::sqrt(static_cast<double>(pixels)));
      if (tiles.height * tiles.width != pixels)
        throw ad::Error(fmt::format(
            "image grid: flat images of {} pixels are not square; set GridOptions::tile_height "
            "and tile_width",
            pixels));
    }
    if (tiles.height * tiles.width != pixels)
      throw ad::Error(fmt::format("image grid: tiles of {}x{} do not hold {} pixels",
                                              tiles.height, tiles.width, pixels));
  } else if (shape.size() == 3) {
    tiles.height = shape[1], tiles.width = shape[2];
  } else if (shape.size() == 4 && (shape[1] == 1 || shape[1] == 3)) {
    tiles.channels = shape[1], tiles.height = shape[2], tiles.width = shape[3];
  } else {
    throw ad::Error(fmt::format(
        "image grid: expected tiles as [N, H*W], [N, H, W] or [N, C, H, W] with C = 1 or 3, "
        "got {}",
        ad::to_string(shape)));
  }
  tiles.values = images.to_vector();
  return tiles;
}

uint8_t to_byte(double intensity) {
  if (!(intensity > 0)) return 0;  // also NaN
  if (intensity >= 1) return 255;
  return static_cast<uint8_t>(std::lround(intensity * 255));
}

// One row of the grid: tiles first .. first+count-1 of a tile set.
struct GridRow {
  const Tiles* tiles;
  int64_t first, count;
};

Image draw_grid(const std::vector<GridRow>& rows, const GridOptions& options) {
  if (rows.empty()) throw ad::Error("image grid: no rows to draw");
  if (options.padding < 0 || options.scale < 1)
    throw ad::Error(
        fmt::format("image grid: need padding >= 0 and scale >= 1, got {} and {}", options.padding,
                    options.scale));
  const Tiles& reference = *rows[0].tiles;
  int64_t cols = 0, channels = 1;
  for (size_t r = 0; r < rows.size(); ++r) {
    const Tiles& tiles = *rows[r].tiles;
    if (tiles.height != reference.height || tiles.width != reference.width)
      throw ad::Error(fmt::format("image grid: row {} has {}x{} tiles, row 0 has {}x{}",
                                              r, tiles.height, tiles.width, reference.height,
                                              reference.width));
    cols = std::max(cols, rows[r].count);
    channels = std::max(channels, tiles.channels);
  }
  if (cols == 0) throw ad::Error("image grid: every row is empty");

  const int64_t tile_h = reference.height * options.scale, tile_w = reference.width * options.scale;
  Image image;
  image.channels = channels;
  image.width = cols * tile_w + (cols - 1) * options.padding;
  image.height = static_cast<int64_t>(rows.size()) * tile_h +
                 (static_cast<int64_t>(rows.size()) - 1) * options.padding;
  // Start from the padding colour everywhere; the tiles are then drawn over it.
  image.pixels.assign(image.width * image.height * channels, to_byte(options.padding_value));

  for (size_t r = 0; r < rows.size(); ++r) {
    const Tiles& tiles = *rows[r].tiles;
    for (int64_t k = 0; k < rows[r].count; ++k) {
      const int64_t top = static_cast<int64_t>(r) * (tile_h + options.padding);
      const int64_t left = k * (tile_w + options.padding);
      for (int64_t y = 0; y < tile_h; ++y)
        for (int64_t x = 0; x < tile_w; ++x)
          for (int64_t c = 0; c < channels; ++c) {
            // A gray tile in an RGB grid uses its one channel for all three.
            const int64_t source_channel = tiles.channels == 1 ? 0 : c;
            const double v =
                tiles.at(rows[r].first + k, source_channel, y / options.scale, x / options.scale);
            image.pixels[((top + y) * image.width + left + x) * channels + c] = to_byte(v);
          }
    }
  }
  return image;
}

}  // namespace

Image image_grid_rows(const std::vector<ad::Tensor>& rows, const GridOptions& options) {
  std::vector<Tiles> tiles;
  for (const ad::Tensor& row : rows) tiles.push_back(tiles_from(row, options));
  std::vector<GridRow> grid_rows;
  for (const Tiles& t : tiles) grid_rows.push_back({&t, 0, t.count});
  return draw_grid(grid_rows, options);
}

Image image_grid(const ad::Tensor& images, int64_t cols, const GridOptions& options) {
  if (cols < 1)
    throw ad::Error(fmt::format("image grid: cols must be >= 1, got {}", cols));
  const Tiles tiles = tiles_from(images, options);
  std::vector<GridRow> grid_rows;
  for (int64_t first = 0; first < tiles.count; first += cols)
    grid_rows.push_back({&tiles, first, std::min(cols, tiles.count - first)});
  return draw_grid(grid_rows, options);
}

void write_image_rows(const fs::path& path, const std::vector<ad::Tensor>& rows,
                      const GridOptions& options) {
  write_png(path, image_grid_rows(rows, options));
}

void write_image_grid(const fs::path& path, const ad::Tensor& images, int64_t cols,
                      const GridOptions& options) {
  write_png(path, image_grid(images, cols, options));
}

}  // namespace nn
