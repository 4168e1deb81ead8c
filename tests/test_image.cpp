// Tests of PNG input and output: image grids written and read back through stb_image,
// clamping, per-row layouts, and loading a folder of PNGs into a tensor.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <stb/stb_image.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "nn/image.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;
using test_helpers::contains;
using test_helpers::TemporaryFolder;

template <class F>
std::string data_error_of(F f) {
  return test_helpers::error_of<nn::DataError>(f);
}

namespace {

// A PNG decoded by stb_image itself, independently of nn::read_png.
struct Decoded {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
  int at(int row, int col, int channel = 0) const {
    return pixels[(static_cast<size_t>(row) * width + col) * channels + channel];
  }
};

Decoded decode(const fs::path& path) {
  Decoded d;
  uint8_t* data = stbi_load(path.c_str(), &d.width, &d.height, &d.channels, 0);
  REQUIRE_MESSAGE(data != nullptr, stbi_failure_reason());
  d.pixels.assign(data, data + static_cast<size_t>(d.width) * d.height * d.channels);
  stbi_image_free(data);
  return d;
}

int to_byte(double v) { return static_cast<int>(std::lround(v * 255)); }

// A gray image whose pixel (y, x) is (seed * 7 + y * width + x) / 100.
nn::Image test_image(int width, int height, int seed, int channels = 1) {
  nn::Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        image.pixels.push_back(static_cast<uint8_t>(seed * 7 + y * width + x + 50 * c));
  return image;
}

}  // namespace

TEST_CASE("image: a grid written as PNG reads back with the right size and pixels") {
  TemporaryFolder folder;
  // 6 flat tiles of 2x3 pixels; tile i pixel j has intensity (i * 6 + j) / 35.
  std::vector<double> values;
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) values.push_back((i * 6 + j) / 35.0);
  ad::Tensor tiles = ad::Tensor::from(values, {6, 6});
  const fs::path path = folder.path / "figures" / "grid.png";  // parent made as needed
  nn::write_image_grid(path, tiles, /*cols=*/4,
                       {.padding = 1, .padding_value = 1.0, .tile_height = 2, .tile_width = 3});

  // Only the PNG is left: the temporary file was renamed over it.
  CHECK(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator()) == 1);
  Decoded png = decode(path);
  CHECK(png.channels == 1);
  CHECK(png.width == 4 * 3 + 3 * 1);   // 4 tiles of width 3, 3 gaps of 1
  CHECK(png.height == 2 * 2 + 1 * 1);  // 2 rows of height 2, 1 gap
  for (int i = 0; i < 6; ++i) {
    const int top = (i / 4) * 3, left = (i % 4) * 4;
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x) {
        CAPTURE(i);
        CHECK(png.at(top + y, left + x) == to_byte(values[i * 6 + y * 3 + x]));
      }
  }
  CHECK(png.at(0, 3) == 255);   // the gap between tiles 0 and 1
  CHECK(png.at(2, 0) == 255);   // the gap between the rows
  CHECK(png.at(4, 14) == 255);  // the empty cells after the last tile
}

TEST_CASE("image: values outside [0, 1] are clamped and NaN is black") {
  ad::Tensor tiles = ad::Tensor::from({-0.5, 1.5, NAN, 0.5}, {1, 2, 2});
  nn::Image image = nn::image_grid(tiles, 1);
  CHECK(image.width == 2);
  CHECK(image.height == 2);
  CHECK(image.pixels == std::vector<uint8_t>{0, 255, 0, 128});
}

TEST_CASE("image: one row per tensor, scaled, with gray tiles in an RGB grid") {
  TemporaryFolder folder;
  ad::Tensor gray = ad::Tensor::from({0.0, 0.2, 0.4, 0.6, 0.8, 1.0}, {3, 1, 1, 2});  // 3 tiles 1x2
  ad::Tensor rgb = ad::Tensor::from({1, 0, 0, 0, 0, 0}, {1, 3, 1, 2});  // one red, one black pixel
  const fs::path path = folder.path / "rows.png";
  nn::write_image_rows(path, {gray, rgb}, {.padding = 1, .padding_value = 0.5, .scale = 2});

  Decoded png = decode(path);
  CHECK(png.channels == 3);
  CHECK(png.width == 3 * 4 + 2);  // 3 tiles of 2 pixels, scaled 2x, 2 gaps
  CHECK(png.height == 2 * 2 + 1);
  // Tile 1 of the gray row (intensities 0.4, 0.6) covers columns 5..8 of rows 0..1.
  for (int c = 0; c < 3; ++c) {
    CHECK(png.at(1, 6, c) == to_byte(0.4));
    CHECK(png.at(0, 7, c) == to_byte(0.6));
    CHECK(png.at(2, 0, c) == to_byte(0.5));  // the gap between the rows
    CHECK(png.at(3, 5, c) == to_byte(0.5));  // the RGB row has one tile: the rest is padding
  }
  CHECK(png.at(4, 1, 0) == 255);  // red
  CHECK(png.at(4, 1, 1) == 0);
  CHECK(png.at(4, 2, 0) == 0);  // black
}

TEST_CASE("image: grids reject tiles they cannot lay out") {
  CHECK_THROWS_AS(nn::image_grid(ad::Tensor::zeros({2, 10}), 2), ad::Error);  // 10 px
  CHECK_THROWS_AS(nn::image_grid(ad::Tensor::zeros({2, 2, 4, 4}), 2), ad::Error);
  CHECK_THROWS_AS(nn::image_grid_rows({ad::Tensor::zeros({2, 16}), ad::Tensor::zeros({2, 9})}),
                  ad::Error);  // 4x4 tiles next to 3x3 tiles
  CHECK(nn::image_grid(ad::Tensor::zeros({2, 10}), 2, {.tile_height = 2, .tile_width = 5}).width ==
        12);
}

TEST_CASE("image: a folder of PNGs loads as one [N, C, H, W] tensor in file-name order") {
  TemporaryFolder folder;
  nn::write_png(folder.path / "b.png", test_image(3, 2, 1));
  nn::write_png(folder.path / "a.png", test_image(3, 2, 0));
  nn::write_png(folder.path / "c.PNG", test_image(3, 2, 2));
  std::ofstream(folder.path / "readme.txt") << "not an image";  // ignored

  nn::ImageFolder gray = nn::load_png_folder(folder.path, nn::Channels::gray);
  REQUIRE(gray.files.size() == 3);
  CHECK(gray.files[0].filename() == "a.png");
  CHECK(gray.files[2].filename() == "c.PNG");
  CHECK(gray.images.shape() == ad::Shape{3, 1, 2, 3});
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 6; ++j)
      CHECK(gray.images.flat(i * 6 + j) == doctest::Approx((i * 7 + j) / 255.0));

  // The same files as RGB: gray replicated into three equal planes.
  nn::ImageFolder rgb = nn::load_png_folder(folder.path, nn::Channels::rgb);
  CHECK(rgb.images.shape() == ad::Shape{3, 3, 2, 3});
  CHECK(rgb.images.flat(1 * 18 + 2 * 6 + 4) == doctest::Approx((7 + 4) / 255.0));
}

TEST_CASE("image: RGB PNGs load channels first") {
  TemporaryFolder folder;
  nn::write_png(folder.path / "color.png", test_image(2, 2, 0, 3));  // channel c adds 50 c
  nn::ImageFolder rgb = nn::load_png_folder(folder.path, nn::Channels::rgb);
  CHECK(rgb.images.shape() == ad::Shape{1, 3, 2, 2});
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 4; ++p)
      CHECK(rgb.images.flat(c * 4 + p) == doctest::Approx((p + 50 * c) / 255.0));
}

TEST_CASE("image: a bad PNG folder gets an error naming the file") {
  TemporaryFolder folder;
  nn::write_png(folder.path / "a.png", test_image(3, 2, 0));

  SUBCASE("images of different sizes") {
    nn::write_png(folder.path / "b.png", test_image(4, 2, 0));
    std::string message =
        data_error_of([&] { nn::load_png_folder(folder.path, nn::Channels::gray); });
    CHECK(contains(message, "b.png: is 4x2 pixels, but a.png (the first image) is 3x2"));
  }
  SUBCASE("a file that is not a PNG") {
    std::ofstream(folder.path / "broken.png") << "not a png";
    std::string message =
        data_error_of([&] { nn::load_png_folder(folder.path, nn::Channels::gray); });
    CHECK(contains(message, "broken.png: not a PNG file"));
  }
  SUBCASE("other formats stb_image knows are refused before decoding") {
    // Found by the fuzzer (fuzz/png_loader.cpp): stb_image decoded these 6 bytes, a PNM
    // header, as an image of width 0, which read_png returned as if it were one; and the
    // 21 bytes of a TGA header claiming 6666 x 9482 raw pixels took over 10 s to "decode".
    std::ofstream(folder.path / "empty.png", std::ios::binary) << std::string("P6\x89P6=");
    CHECK(contains(data_error_of([&] { nn::read_png(folder.path / "empty.png", nn::Channels::gray); }),
                   "empty.png: not a PNG file"));
    const unsigned char tga[] = {0x00, 0x00, 0x02, 0x3a, 0x28, 0xe1, 0x89, 0x48, 0x2d, 0x4e, 0x47,
                                 0x0d, 0x0a, 0x1a, 0x0a, 0x25, 0x10, 0x40, 0x00, 0x0d, 0x49};
    std::ofstream(folder.path / "slow.png", std::ios::binary)
        .write(reinterpret_cast<const char*>(tga), sizeof tga);
    CHECK(contains(data_error_of([&] { nn::read_png(folder.path / "slow.png", nn::Channels::gray); }),
                   "slow.png: not a PNG file"));
  }
  SUBCASE("a chunk that claims more bytes than the file holds") {
    // Found by the fuzzer: a 78-byte PNG whose chunk claimed about 1 GB made stb_image grow
    // its buffer to 2 GB before finding the bytes missing.
    std::string bytes = test_helpers::read_file(folder.path / "a.png");
    const std::string claimed = {0x40, 0, 0, 0};  // the IHDR chunk (byte 8) claims 1 GB
    bytes.replace(8, 4, claimed);
    std::ofstream(folder.path / "long.png", std::ios::binary) << bytes;
    CHECK(contains(data_error_of([&] { nn::read_png(folder.path / "long.png", nn::Channels::gray); }),
                   "long.png: the chunk at byte 8 claims 1073741824 bytes of data, but only"));
    bytes = test_helpers::read_file(folder.path / "a.png");
    bytes.resize(bytes.size() - 12);  // the IEND chunk cut off
    std::ofstream(folder.path / "short.png", std::ios::binary) << bytes;
    CHECK(contains(data_error_of([&] { nn::read_png(folder.path / "short.png", nn::Channels::gray); }),
                   "short.png: ends at byte"));
    CHECK(contains(data_error_of([&] { nn::read_png(folder.path / "short.png", nn::Channels::gray); }),
                   "before its IEND chunk"));
  }
  SUBCASE("a header that claims a huge image") {
    // IHDR's width and height (bytes 16-23) set to 20000 x 20000: 400 M pixels from 70 bytes.
    std::string bytes = test_helpers::read_file(folder.path / "a.png");
    const std::string size = {0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20};
    bytes.replace(16, 8, size);
    std::ofstream(folder.path / "huge.png", std::ios::binary) << bytes;
    CHECK(contains(data_error_of([&] { nn::read_png(folder.path / "huge.png", nn::Channels::gray); }),
                   "huge.png: claims 20000x20000 pixels, more than the 67108864 this loader reads"));
  }
  SUBCASE("no PNGs, or no folder") {
    fs::create_directories(folder.path / "empty");
    CHECK(contains(
        data_error_of([&] { nn::load_png_folder(folder.path / "empty", nn::Channels::gray); }),
        "empty: no .png files in this folder"));
    CHECK(contains(
        data_error_of([&] { nn::load_png_folder(folder.path / "a.png", nn::Channels::gray); }),
        "a.png: not a directory"));
    CHECK(
        contains(data_error_of([&] { nn::read_png(folder.path / "nope.png", nn::Channels::gray); }),
                 "nope.png: no such file"));
  }
}
