#include "nn/dataset.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <stdexcept>

#include "autodiff/ops.h"

namespace nn {
namespace fs = std::filesystem;

const char* file_prefix(Split split) { return split == Split::train ? "train" : "t10k"; }

namespace {
// A pixel's byte 0..255 as the intensity 0..1 that models read, byte / 255. A byte has
// only 256 values, so they are divided once and looked up (a division per pixel of
// every batch took longer than some of the training step's layers).
float intensity(uint8_t byte) {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int b = 0; b < 256; ++b) t[b] = static_cast<float>(b) / 255.0f;
    return t;
  }();
  return table[byte];
}
}  // namespace

// ---- Dataset ----

int Dataset::num_classes() const {
  if (!class_names.empty()) return static_cast<int>(class_names.size());
  return labels.empty() ? 0 : static_cast<int>(*std::max_element(labels.begin(), labels.end()) + 1);
}

ad::Tensor Dataset::images_nchw() const {
  if (storage() == PixelStorage::bytes)
    throw DataError(fmt::format("{}: images_nchw() needs the pixels as floats, but they were "
                                "loaded as bytes; draw batches with a BatchIterator (layout "
                                "nchw), or load with PixelStorage::floats",
                                name));
  return ad::reshape(images, {size(), 1, rows, cols});  // same row-major values
}

Dataset Dataset::subset(const std::vector<int64_t>& indices) const {
  Dataset part;
  part.rows = rows;
  part.cols = cols;
  part.class_names = class_names;
  part.name = name;
  part.source = source;
  part.labels_source = labels_source;
  const int64_t pixels = pixels_per_image(), count = static_cast<int64_t>(indices.size());
  for (int64_t i : indices)
    if (i < 0 || i >= size())
      throw ad::Error(
          fmt::format("Dataset::subset: index {} is outside [0, {}) of {}", i, size(), name));
  // Copies image indices[k] to slot k, in whichever form the pixels are kept.
  auto copy_images = [&](const auto* from, auto* to) {
    for (int64_t k = 0; k < count; ++k) std::copy_n(from + indices[k] * pixels, pixels, to + k * pixels);
  };
  if (storage() == PixelStorage::floats) {
    part.images = ad::Tensor::empty({count, pixels});
    copy_images(images.data<float>(), part.images.data<float>());
  } else {
    auto bytes = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(count * pixels));
    copy_images(pixel_bytes->data(), bytes->data());
    part.pixel_bytes = std::move(bytes);
  }
  for (int64_t i : indices) part.labels.push_back(labels[i]);
  return part;
}

Dataset Dataset::first(int64_t n) const {
  std::vector<int64_t> indices(std::clamp<int64_t>(n, 0, size()));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(i);
  return subset(indices);
}

// ---- loading ----

namespace {

// The first of the usual spellings of an MNIST file that exists in `dir`.
fs::path find_mnist_file(const fs::path& dir, Split split, const char* kind, int rank) {
  const std::string stem = fmt::format("{}-{}", file_prefix(split), kind);
  const std::vector<std::string> candidates = {
      fmt::format("{}-idx{}-ubyte.gz", stem, rank), fmt::format("{}-idx{}-ubyte", stem, rank),
      fmt::format("{}.idx{}-ubyte.gz", stem, rank), fmt::format("{}.idx{}-ubyte", stem, rank)};
  for (const std::string& name : candidates)
    if (fs::exists(dir / name)) return dir / name;
  throw DataError(fmt::format("{}: no {} {} file in this directory (looked for {})", dir.string(),
                              file_prefix(split), kind, fmt::join(candidates, ", ")));
}

}  // namespace

Dataset load_mnist_format(const fs::path& dir, Split split, PixelStorage storage) {
  if (!fs::is_directory(dir))
    throw DataError(fmt::format("{}: {}", dir.string(),
                                fs::exists(dir) ? "not a directory" : "no such directory"));
  const fs::path images_path = find_mnist_file(dir, split, "images", 3);
  const fs::path labels_path = find_mnist_file(dir, split, "labels", 1);

  IdxImages raw = read_idx_images(images_path);
  std::vector<uint8_t> raw_labels = read_idx_labels(labels_path);
  if (static_cast<int64_t>(raw_labels.size()) != raw.count)
    throw DataError(fmt::format("{}: holds {} labels, but {} holds {} images", labels_path.string(),
                                raw_labels.size(), images_path.filename().string(), raw.count));

  Dataset data;
  data.rows = raw.rows;
  data.cols = raw.cols;
  data.name = fmt::format("{} {}", dir.filename().string(), file_prefix(split));
  data.source = images_path.string();
  data.labels_source = labels_path.string();
  data.labels.assign(raw_labels.begin(), raw_labels.end());
  if (storage == PixelStorage::bytes) {
    data.pixel_bytes = std::make_shared<const std::vector<uint8_t>>(std::move(raw.pixels));
    return data;
  }
  data.images = ad::Tensor::empty({raw.count, raw.rows * raw.cols});
  // Bytes 0..255 become intensities 0..1: what a Bernoulli decoder models.
  float* pixels = data.images.data<float>();
  for (size_t i = 0; i < raw.pixels.size(); ++i) pixels[i] = intensity(raw.pixels[i]);
  return data;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

namespace {

// The folder $FASHION_MNIST_DIR names, when it is set and not empty.
std::optional<fs::path> data_dir_from_variable() {
  const char* named = std::getenv(kFashionMnistDirVariable);
  if (named == nullptr || *named == '\0') return std::nullopt;
  return fs::path(named);
}

constexpr const char* kExpectedFiles =
    "the MNIST-format files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz";

}  // namespace

bool default_data_installed() {
  return fs::is_directory(data_dir_from_variable().value_or(kFashionMnistPackageDir));
}

fs::path default_data_dir() {
  const std::optional<fs::path> named = data_dir_from_variable();
  const fs::path dir = named.value_or(kFashionMnistPackageDir);
  if (fs::is_directory(dir)) return dir;
  if (named)
    throw DataError(fmt::format("{}={}: no such directory. The variable must name a folder with {}",
                                kFashionMnistDirVariable, dir.string(), kExpectedFiles));
  throw DataError(fmt::format(
      "{}: no such directory, so Fashion-MNIST is not installed. Install it with "
      "`sudo apt-get install dataset-fashion-mnist` (or `make deps`), or set {} or pass "
      "--data DIR naming a folder with {} (from github.com/zalandoresearch/fashion-mnist, "
      "folder data/fashion)",
      kFashionMnistPackageDir, kFashionMnistDirVariable, kExpectedFiles));
}

Dataset load_fashion_mnist(Split split, const fs::path& dir, PixelStorage storage) {
  Dataset data = load_mnist_format(dir.empty() ? default_data_dir() : dir, split, storage);
  data.name = fmt::format("fashion-mnist {}", file_prefix(split));
  check_dataset(data, {.num_classes = static_cast<int>(fashion_mnist_class_names().size())});
  data.class_names = fashion_mnist_class_names();
  return data;
}

namespace {
// "fashion-mnist train (/usr/share/.../train-images-idx3-ubyte.gz)": the file when known.
std::string described(const Dataset& data) {
  if (data.source.empty()) return data.name;
  return data.name.empty() ? data.source : fmt::format("{} ({})", data.source, data.name);
}
}  // namespace

void check_dataset(const Dataset& data, const DataNeeds& needs) {
  if ((needs.rows > 0 && data.rows != needs.rows) || (needs.cols > 0 && data.cols != needs.cols))
    throw DataError(fmt::format(
        "{}: holds images of {}x{} pixels, but this program is built for {}x{} images "
        "(Fashion-MNIST and MNIST are 28x28)",
        described(data), data.rows, data.cols, needs.rows, needs.cols));
  if (data.size() < needs.min_examples)
    throw DataError(fmt::format("{}: holds {} examples, but this program needs at least {}",
                                described(data), data.size(), needs.min_examples));
  if (needs.num_classes > 0)
    for (int64_t i = 0; i < data.size(); ++i)
      if (data.labels[i] < 0 || data.labels[i] >= needs.num_classes)
        throw DataError(fmt::format(
            "{}: example {} has label {}, but this program knows {} classes (labels 0 to {})",
            data.labels_source.empty() ? described(data) : data.labels_source, i, data.labels[i],
            needs.num_classes, needs.num_classes - 1));
}

void check_same_image_size(const Dataset& train, const Dataset& test) {
  if (train.rows != test.rows || train.cols != test.cols)
    throw DataError(fmt::format("{}: holds images of {}x{} pixels, but {} holds {}x{} ones",
                                described(test), test.rows, test.cols, described(train),
                                train.rows, train.cols));
}

TrainValidation split_validation(const Dataset& data, int64_t validation_size, ad::Rng& rng) {
  if (validation_size < 0 || validation_size >= data.size())
    throw ad::Error(fmt::format(
        "split_validation: cannot hold out {} of the {} examples of {} and keep some to train on",
        validation_size, data.size(), described(data)));
  std::vector<int64_t> order(data.size());
  for (int64_t i = 0; i < data.size(); ++i) order[i] = i;
  rng.shuffle(order);
  // The first validation_size of a random permutation are a uniform random subset.
  std::vector<int64_t> held_out(order.begin(), order.begin() + validation_size);
  std::vector<int64_t> kept(order.begin() + validation_size, order.end());
  std::sort(held_out.begin(), held_out.end());
  std::sort(kept.begin(), kept.end());
  TrainValidation split{data.subset(kept), data.subset(held_out)};
  split.train.name = data.name + " (train part)";
  split.validation.name = data.name + " (validation part)";
  return split;
}

// ---- BatchIterator ----

BatchIterator::BatchIterator(Dataset data, BatchOptions options)
    : data_(std::move(data)), options_(options), rng_(options.seed) {
  if (options_.batch_size <= 0)
    throw ad::Error(
        fmt::format("BatchIterator: batch_size must be positive, got {}", options_.batch_size));
  if (data_.size() == 0)
    throw ad::Error(fmt::format("BatchIterator: {} has no examples", data_.name));
  if (options_.drop_last && data_.size() < options_.batch_size)
    throw ad::Error(fmt::format(
        "BatchIterator: with drop_last, batch_size {} larger than the {} examples of {} "
        "leaves no batch at all",
        options_.batch_size, data_.size(), data_.name));
  order_.resize(data_.size());
  for (int64_t i = 0; i < data_.size(); ++i) order_[i] = i;
}

int64_t BatchIterator::batches_per_epoch() const {
  const int64_t n = data_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

int64_t BatchIterator::examples_per_epoch() const {
  return options_.drop_last ? batches_per_epoch() * options_.batch_size : data_.size();
}

void BatchIterator::start_epoch() {
  ++epoch_;
  position_ = 0;
  in_epoch_ = true;
  // Shuffling the previous order (not a fresh 0..N-1) is just as random and keeps
  // every epoch's order a function of the seed and the epoch number.
  if (options_.shuffle) rng_.shuffle(order_);
}

bool BatchIterator::next(Batch& batch) {
  if (!in_epoch_) start_epoch();
  const int64_t remaining = data_.size() - position_;
  const int64_t count = std::min(options_.batch_size, remaining);
  if (count == 0 || (options_.drop_last && count < options_.batch_size)) {
    in_epoch_ = false;  // the next call starts the next epoch
    return false;
  }

  const int64_t pixels = data_.pixels_per_image();
  batch.indices.assign(order_.begin() + position_, order_.begin() + position_ + count);
  position_ += count;
  batch.epoch = epoch_;
  batch.y.clear();
  for (int64_t i : batch.indices) batch.y.push_back(data_.labels[i]);

  ad::Shape shape = options_.layout == ImageLayout::flat
                        ? ad::Shape{count, pixels}
                        : ad::Shape{count, 1, data_.rows, data_.cols};
  // A fresh tensor each time: the previous batch may still be referenced (by the tape).
  batch.x = ad::Tensor::empty(shape, options_.dtype);
  std::vector<float> image(pixels);  // one image's intensities in [0, 1]
  ad::dispatch(options_.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* x = batch.x.data<T>();
    for (int64_t k = 0; k < count; ++k) {
      const int64_t first = batch.indices[k] * pixels;
      if (data_.storage() == PixelStorage::floats)
        std::copy_n(data_.images.data<float>() + first, pixels, image.data());
      else
        std::transform(data_.pixel_bytes->begin() + first, data_.pixel_bytes->begin() + first + pixels,
                       image.begin(), intensity);
      T* row = x + k * pixels;
      if (options_.binarize) {
        // A new Bernoulli draw per pixel on every visit, so the model never sees the same
        // binary image twice: a regulariser that fits the Bernoulli likelihood exactly.
        for (int64_t p = 0; p < pixels; ++p) row[p] = rng_.uniform() < image[p] ? T(1) : T(0);
      } else {
        std::copy_n(image.data(), pixels, row);
      }
    }
  });
  return true;
}

}  // namespace nn
