// PNG images in and out: folders of PNGs as tensors, and grids of tiles as one PNG.
//
// Tensors hold intensities in [0, 1] (0 = black), channels first: [N, C, H, W] with
// C = 1 (gray) or 3 (RGB). A PNG holds bytes 0..255, channels interleaved; the Image
// struct is that byte form. Decoding and encoding go through stb_image and
// stb_image_write; files are written atomically (see nn/atomic_file.h), so a
// viewer never shows a half-written figure.
//
// Example (a VAE figure: inputs, reconstructions and denoised inputs, one row each):
//
//   nn::write_image_rows("out/vae/reconstructions.png", {inputs, recon, denoised},
//                        {.padding = 2, .scale = 2});    // tensors [10, 784], 28x28 tiles
//   nn::write_image_grid("out/vae/samples.png", samples, /*cols=*/8);  // 64 samples, 8x8
//
//   nn::ImageFolder mine = nn::load_png_folder("my_drawings", nn::Channels::gray);
//   // mine.images: [N, 1, H, W]; mine.files[i] is where image i came from
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "autodiff/tensor.h"
#include "nn/idx.h"  // nn::DataError

namespace nn {

enum class Channels { gray = 1, rgb = 3 };

// An 8-bit image as a PNG stores it.
struct Image {
  int64_t width = 0, height = 0, channels = 1;  // channels: 1 gray, 3 RGB
  std::vector<uint8_t> pixels;                  // row after row, channels interleaved
  uint8_t at(int64_t row, int64_t col, int64_t channel = 0) const {
    return pixels[(row * width + col) * channels + channel];
  }
};

// Decodes a PNG (or any format stb_image reads), converted to the requested channels
// (RGB to gray uses the usual luminance weights). Throws nn::DataError naming the file.
Image read_png(const std::filesystem::path& path, Channels channels);
// Encodes and writes atomically, creating parent folders. Throws naming the file.
void write_png(const std::filesystem::path& path, const Image& image);

// Every *.png directly inside `folder`, sorted by file name, as one tensor
// [N, C, H, W] of f32 in [0, 1]. All images must have the same size.
struct ImageFolder {
  ad::Tensor images;
  std::vector<std::filesystem::path> files;  // image i came from files[i]
};
ImageFolder load_png_folder(const std::filesystem::path& folder, Channels channels);

// ---- grids of tiles ----
//
// A set of tiles may be given as [N, H*W] (flat gray images, as in a Dataset), [N, H, W]
// (gray), or [N, C, H, W] with C = 1 or 3. Values are clamped to [0, 1] (NaN shows as
// black). If any tile is RGB, gray tiles are shown in gray in an RGB image.
struct GridOptions {
  int64_t padding = 2;         // pixels between neighbouring tiles (not around the edge)
  double padding_value = 1.0;  // their intensity: white, to separate dark tiles
  int64_t scale = 1;           // each pixel becomes scale x scale (tiles of 28 are tiny)
  // The tile size of flat [N, H*W] tensors; 0 means square, H = W = sqrt(H*W).
  int64_t tile_height = 0, tile_width = 0;
};

// Each tensor of `rows` becomes one row of the grid (rows may differ in length; the
// grid is as wide as the longest). E.g. {inputs, reconstructions}.
Image image_grid_rows(const std::vector<ad::Tensor>& rows, const GridOptions& options = {});
// The tiles of `images` row by row, `cols` to a row; the last row may be short.
Image image_grid(const ad::Tensor& images, int64_t cols, const GridOptions& options = {});

void write_image_rows(const std::filesystem::path& path, const std::vector<ad::Tensor>& rows,
                      const GridOptions& options = {});
void write_image_grid(const std::filesystem::path& path, const ad::Tensor& images, int64_t cols,
                      const GridOptions& options = {});

}  // namespace nn
