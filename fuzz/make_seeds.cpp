// Writes the seed inputs of the fuzz targets (fuzz/*.cpp) into a folder, one subfolder
// per target: valid files of each format, which the fuzzer then mutates. Seeds are made
// here rather than kept in the repository as binaries.
//
//   make_seeds build/fuzz/seeds
//
// Each seed starts with the mode byte its target reads first (see the target's comment).
#include <fmt/format.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "nn/idx.h"
#include "nn/image.h"
#include "nn/nn.h"

namespace fs = std::filesystem;

namespace {

std::string big_endian(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string gzip(const std::string& bytes) {
  uLongf size = compressBound(bytes.size()) + 32;
  std::string out(size, '\0');
  z_stream s{};
  deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: a gzip header
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  s.avail_in = static_cast<uInt>(bytes.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::string read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << bytes;
}

struct Net : nn::Module {  // the model of fuzz/checkpoint_reader.cpp
  nn::Linear fc1, fc2;
  explicit Net(ad::Rng& rng) : fc1(3, 4, rng), fc2(4, 2, rng) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds FOLDER\n");
    return 2;
  }
  const fs::path out = argv[1];
  try {
    // IDX: 3 images of 4x5 and their labels, plain (mode byte 0) and gzipped (1: ".gz").
    std::string pixels, labels;
    for (int i = 0; i < 60; ++i) pixels += char(i * 37 % 256);
    for (int i = 0; i < 3; ++i) labels += char(i);
    const std::string images = big_endian(nn::kIdxImagesMagic) + big_endian(3) + big_endian(4) +
                               big_endian(5) + pixels;
    const std::string label_file = big_endian(nn::kIdxLabelsMagic) + big_endian(3) + labels;
    write(out / "idx_reader" / "images", '\0' + images);
    write(out / "idx_reader" / "images_gz", '\1' + gzip(images));
    write(out / "idx_reader" / "labels", '\0' + label_file);
    write(out / "idx_reader" / "labels_gz", '\1' + gzip(label_file));

    // Checkpoints of the target's model, with and without Adam's state, under each mode.
    ad::Rng rng(2);
    Net model(rng);
    nn::Adam adam(model);
    const fs::path tmp = out / "model.ckpt";
    nn::save_checkpoint(tmp, model);
    const std::string weights = read(tmp);
    nn::save_checkpoint(tmp, model, adam);
    const std::string with_adam = read(tmp);
    fs::remove(tmp);
    for (char mode = 0; mode < 4; ++mode) {
      write(out / "checkpoint_reader" / fmt::format("weights_{}", int(mode)), mode + weights);
      write(out / "checkpoint_reader" / fmt::format("with_adam_{}", int(mode)), mode + with_adam);
    }

    // PNGs: gray and RGB, written by the project's own encoder.
    const fs::path png = out / "png_loader";
    fs::create_directories(png);
    nn::write_png(png / "gray.png", {.width = 3, .height = 2, .channels = 1,
                                     .pixels = {0, 50, 100, 150, 200, 250}});
    nn::Image rgb{.width = 2, .height = 2, .channels = 3, .pixels = {}};
    for (int i = 0; i < 12; ++i) rgb.pixels.push_back(static_cast<uint8_t>(i * 20));
    nn::write_png(png / "rgb.png", rgb);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
