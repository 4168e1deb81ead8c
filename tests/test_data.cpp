// Tests of the data layer: IDX files (plain and gzipped) and their error messages,
// MNIST-format datasets, the validation split, mini-batches with shuffling and dynamic
// binarisation, the real Fashion-MNIST test set, and the training progress line.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nn/dataset.h"
#include "nn/idx.h"
#include "nn/progress.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;
using test_helpers::contains;
using test_helpers::TemporaryFolder;

template <class F>
std::string data_error_of(F f) {
  return test_helpers::error_of<nn::DataError>(f);
}

namespace {

using test_helpers::big_endian;
using test_helpers::idx_images;
using test_helpers::idx_labels;

void write_plain(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

void write_gzip(const fs::path& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Pixel j of image i in the small test sets: distinct, and covering 0 and 255.
uint8_t test_pixel(int i, int j) { return static_cast<uint8_t>((i * 37 + j * 11) % 256); }

std::vector<uint8_t> test_pixels(int count, int pixels_per_image) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < count; ++i)
    for (int j = 0; j < pixels_per_image; ++j) pixels.push_back(test_pixel(i, j));
  return pixels;
}

// A dataset of n images of 2x2 pixels in memory: image i has all pixels i/n, label i%3.
nn::Dataset small_dataset(int n) {
  nn::Dataset data;
  data.rows = data.cols = 2;
  data.name = "small";
  data.images = ad::Tensor::zeros({n, 4});
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < 4; ++j) data.images.data<float>()[i * 4 + j] = static_cast<float>(i) / n;
    data.labels.push_back(i % 3);
  }
  return data;
}

// Every batch of one epoch, the first call to next() starting it.
std::vector<nn::Batch> one_epoch(nn::BatchIterator& batches) {
  std::vector<nn::Batch> epoch;
  for (nn::Batch batch; batches.next(batch);) epoch.push_back(batch);
  return epoch;
}

std::vector<int64_t> order_of(const std::vector<nn::Batch>& epoch) {
  std::vector<int64_t> order;
  for (const nn::Batch& batch : epoch)
    order.insert(order.end(), batch.indices.begin(), batch.indices.end());
  return order;
}

}  // namespace

// ---------------------------------------------------------------------------------
// IDX files

TEST_CASE("data: IDX images and labels read back from plain and gzipped files") {
  TemporaryFolder folder;
  const std::vector<uint8_t> pixels = test_pixels(3, 2 * 5);
  const std::vector<uint8_t> labels = {7, 0, 9};
  const std::string images_bytes = idx_images(3, 2, 5, pixels);

  write_plain(folder.path / "images-plain", images_bytes);
  write_gzip(folder.path / "images.gz", images_bytes);
  write_gzip(folder.path / "gzipped-without-suffix", images_bytes);
  write_gzip(folder.path / "labels.gz", idx_labels(labels));

  for (const char* name : {"images-plain", "images.gz", "gzipped-without-suffix"}) {
    CAPTURE(name);
    nn::IdxImages images = nn::read_idx_images(folder.path / name);
    CHECK(images.count == 3);
    CHECK(images.rows == 2);
    CHECK(images.cols == 5);
    CHECK(images.pixels == pixels);
  }
  CHECK(nn::read_idx_labels(folder.path / "labels.gz") == labels);
}

TEST_CASE("data: a malformed IDX file is rejected with a message naming the file and problem") {
  TemporaryFolder folder;
  const std::vector<uint8_t> pixels = test_pixels(3, 6);  // 3 images of 2x3

  SUBCASE("pixels cut short") {
    fs::path path = folder.path / "short-images-idx3-ubyte";
    write_plain(path,
                idx_images(3, 2, 3, std::vector<uint8_t>(pixels.begin(), pixels.begin() + 10)));
    std::string message = data_error_of([&] { nn::read_idx_images(path); });
    CHECK(contains(message, "short-images-idx3-ubyte: "));
    CHECK(contains(message, "expected 18 bytes of pixels after the header, found 10 (truncated?"));
  }
  SUBCASE("a gzip stream cut short") {
    fs::path whole = folder.path / "whole.gz", cut = folder.path / "cut-images-idx3-ubyte.gz";
    // Incompressible-ish pixels, so that cutting the stream loses pixels, not just the trailer.
    write_gzip(whole, idx_images(100, 10, 10, test_pixels(100, 100)));
    std::string bytes = read_bytes(whole);
    write_plain(cut, bytes.substr(0, bytes.size() / 2));
    std::string message = data_error_of([&] { nn::read_idx_images(cut); });
    CHECK(contains(message, "cut-images-idx3-ubyte.gz: expected 10000 bytes of pixels"));
    CHECK(contains(message, "truncated?"));
    CHECK(contains(message, "gzip stream itself is cut off"));
  }
  SUBCASE("a labels file where images are expected") {
    fs::path path = folder.path / "swapped.gz";
    write_gzip(path, idx_labels({1, 2, 3}));
    std::string message = data_error_of([&] { nn::read_idx_images(path); });
    CHECK(contains(message, "swapped.gz: wrong magic number 0x00000801"));
    CHECK(contains(message, "expected 0x00000803 (uint8 images, 3 dimensions)"));
  }
  SUBCASE("not an IDX file at all") {
    fs::path path = folder.path / "notes.txt";
    write_plain(path, "hello, this is text");
    std::string message = data_error_of([&] { nn::read_idx_labels(path); });
    CHECK(contains(message, "notes.txt: wrong magic number 0x68656c6c"));
    CHECK(contains(message, "expected 0x00000801"));
  }
  SUBCASE("a zero dimension") {
    fs::path path = folder.path / "flat-images";
    write_plain(path, idx_images(3, 0, 3, {}));
    CHECK(contains(data_error_of([&] { nn::read_idx_images(path); }),
                   "flat-images: dimension 1 of the header is 0"));
  }
  SUBCASE("dimensions that do not match the data: more bytes than the header promises") {
    fs::path path = folder.path / "wrong-dims-images";
    write_plain(path, idx_images(2, 2, 3, pixels));  // 18 bytes, header says 12
    std::string message = data_error_of([&] { nn::read_idx_images(path); });
    CHECK(contains(message,
                   "wrong-dims-images: expected 12 bytes of pixels after the header, "
                   "found 18 (6 extra bytes"));
  }
  SUBCASE("a header promising absurd sizes") {
    fs::path path = folder.path / "huge-images";
    write_plain(path, idx_images(0xffffffffu, 0xffffffffu, 0xffffffffu, pixels));
    CHECK(contains(data_error_of([&] { nn::read_idx_images(path); }), "garbled header"));
  }
  SUBCASE("a header cut short") {
    fs::path path = folder.path / "stub";
    write_plain(path, big_endian(nn::kIdxImagesMagic) + big_endian(3));
    CHECK(contains(data_error_of([&] { nn::read_idx_images(path); }),
                   "stub: the header ends after 8 of its 16 bytes (truncated?)"));
  }
  SUBCASE("an empty file") {
    fs::path path = folder.path / "empty";
    write_plain(path, "");
    CHECK(contains(data_error_of([&] { nn::read_idx_images(path); }), "empty: the file is empty"));
  }
  SUBCASE(".gz in the name but not gzip inside") {
    fs::path path = folder.path / "plain.gz";
    write_plain(path, idx_images(3, 2, 3, pixels));
    CHECK(contains(data_error_of([&] { nn::read_idx_images(path); }),
                   "plain.gz: not gzip-compressed although the name ends in .gz"));
  }
  SUBCASE("not a file") {
    CHECK(contains(data_error_of([&] { nn::read_idx_images(folder.path); }),
                   folder.path.string() + ": is a directory, not a file"));
    CHECK(contains(data_error_of([&] { nn::read_idx_labels(folder.path / "missing.gz"); }),
                   "missing.gz: no such file"));
  }
}

// ---------------------------------------------------------------------------------
// MNIST-format datasets

TEST_CASE("data: load_mnist_format reads a directory in the MNIST layout, .gz or not") {
  TemporaryFolder folder;
  const std::vector<uint8_t> pixels = test_pixels(4, 6);
  write_gzip(folder.path / "train-images-idx3-ubyte.gz", idx_images(4, 2, 3, pixels));
  write_plain(folder.path / "train-labels-idx1-ubyte", idx_labels({3, 1, 4, 1}));
  write_plain(folder.path / "t10k-images.idx3-ubyte", idx_images(1, 2, 3, test_pixels(1, 6)));
  write_gzip(folder.path / "t10k-labels.idx1-ubyte.gz", idx_labels({5}));

  nn::Dataset train = nn::load_mnist_format(folder.path, nn::Split::train);
  CHECK(train.size() == 4);
  CHECK(train.rows == 2);
  CHECK(train.cols == 3);
  CHECK(train.images.shape() == ad::Shape{4, 6});
  CHECK(train.images.dtype() == ad::f32);
  CHECK(train.labels == std::vector<int64_t>{3, 1, 4, 1});
  CHECK(train.num_classes() == 5);  // no class names: largest label + 1
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j)
      CHECK(train.images.data<float>()[i * 6 + j] == doctest::Approx(test_pixel(i, j) / 255.0));
  CHECK(train.images_nchw().shape() == ad::Shape{4, 1, 2, 3});
  CHECK(train.images_nchw().flat(7) == train.images.flat(7));

  nn::Dataset first_two = train.first(2);
  CHECK(first_two.size() == 2);
  CHECK(first_two.labels == std::vector<int64_t>{3, 1});
  const std::vector<double> all_values = train.images.to_vector();
  CHECK(first_two.images.to_vector() ==
        std::vector<double>(all_values.begin(), all_values.begin() + 12));
  CHECK(train.first(100).size() == 4);

  nn::Dataset test = nn::load_mnist_format(folder.path, nn::Split::test);
  CHECK(test.size() == 1);
  CHECK(test.labels == std::vector<int64_t>{5});
}

TEST_CASE("data: load_mnist_format names the file when files are missing or disagree") {
  TemporaryFolder folder;
  write_gzip(folder.path / "train-images-idx3-ubyte.gz", idx_images(3, 2, 3, test_pixels(3, 6)));

  std::string message =
      data_error_of([&] { nn::load_mnist_format(folder.path, nn::Split::train); });
  CHECK(contains(message, folder.path.string() + ": no train labels file in this directory"));
  CHECK(contains(message, "train-labels-idx1-ubyte.gz"));

  write_gzip(folder.path / "train-labels-idx1-ubyte.gz", idx_labels({1, 2}));
  message = data_error_of([&] { nn::load_mnist_format(folder.path, nn::Split::train); });
  CHECK(contains(message,
                 "train-labels-idx1-ubyte.gz: holds 2 labels, but "
                 "train-images-idx3-ubyte.gz holds 3 images"));

  CHECK(
      contains(data_error_of([&] { nn::load_mnist_format(folder.path / "nope", nn::Split::test); }),
               "nope: no such directory"));
}

TEST_CASE("data: the validation split is seeded, disjoint and complete") {
  nn::Dataset data = small_dataset(50);
  ad::Rng rng(3);
  auto [train, validation] = nn::split_validation(data, 12, rng);
  CHECK(train.size() == 38);
  CHECK(validation.size() == 12);

  // Each image's value i/50 identifies it: every example lands in exactly one part.
  auto ids = [](const nn::Dataset& part) {
    std::vector<int> ids;
    for (int64_t i = 0; i < part.size(); ++i)
      ids.push_back(static_cast<int>(std::lround(part.images.flat(i * 4) * 50)));
    return ids;
  };
  std::vector<int> train_ids = ids(train), validation_ids = ids(validation);
  CHECK(std::is_sorted(train_ids.begin(), train_ids.end()));  // original order kept
  std::vector<int> all = train_ids;
  all.insert(all.end(), validation_ids.begin(), validation_ids.end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i < 50; ++i) CHECK(all[i] == i);
  for (int64_t i = 0; i < validation.size(); ++i)
    CHECK(validation.labels[i] == validation_ids[i] % 3);  // labels travel with their images

  ad::Rng same_seed(3), other_seed(4);
  CHECK(ids(nn::split_validation(data, 12, same_seed).validation) == validation_ids);
  CHECK(ids(nn::split_validation(data, 12, other_seed).validation) != validation_ids);
  CHECK_THROWS_AS(nn::split_validation(data, 51, rng), ad::Error);
}

TEST_CASE("data: a valid file that does not fit the program is refused, naming the file") {
  TemporaryFolder folder;
  // 5 training images of 2x3 with labels up to 12, and test images of 3x3.
  write_gzip(folder.path / "train-images-idx3-ubyte.gz", idx_images(5, 2, 3, test_pixels(5, 6)));
  write_gzip(folder.path / "train-labels-idx1-ubyte.gz", idx_labels({0, 1, 12, 3, 4}));
  write_gzip(folder.path / "t10k-images-idx3-ubyte.gz", idx_images(2, 3, 3, test_pixels(2, 9)));
  write_gzip(folder.path / "t10k-labels-idx1-ubyte.gz", idx_labels({0, 1}));
  const nn::Dataset train = nn::load_mnist_format(folder.path, nn::Split::train);
  const nn::Dataset test = nn::load_mnist_format(folder.path, nn::Split::test);
  const std::string train_file = (folder.path / "train-images-idx3-ubyte.gz").string();

  std::string message = data_error_of([&] { nn::check_dataset(train, {.rows = 28, .cols = 28}); });
  CHECK(contains(message, train_file));
  CHECK(contains(message, "holds images of 2x3 pixels, but this program is built for 28x28"));
  message = data_error_of([&] { nn::check_dataset(train, {.num_classes = 10}); });
  CHECK(contains(message, (folder.path / "train-labels-idx1-ubyte.gz").string()));
  CHECK(contains(message, "example 2 has label 12, but this program knows 10 classes"));
  message = data_error_of([&] { nn::check_dataset(train, {.min_examples = 1001}); });
  CHECK(contains(message, "holds 5 examples, but this program needs at least 1001"));
  message = data_error_of([&] { nn::check_same_image_size(train, test); });
  CHECK(contains(message, "t10k-images-idx3-ubyte.gz"));
  CHECK(contains(message, "holds images of 3x3 pixels, but"));
  CHECK(contains(message, "holds 2x3 ones"));
  nn::check_dataset(train, {.rows = 2, .cols = 3, .num_classes = 13, .min_examples = 5});  // fits

  // Holding out every example would leave nothing to train on.
  ad::Rng rng(1);
  message = test_helpers::error_of<ad::Error>([&] { nn::split_validation(train, 5, rng); });
  CHECK(contains(message, "keep some to train on"));
  CHECK(contains(message, train_file));
  CHECK(nn::split_validation(train, 4, rng).train.size() == 1);
}

// ---------------------------------------------------------------------------------
// Mini-batches

TEST_CASE("data: a batch iterator visits every example exactly once per epoch") {
  nn::Dataset data = small_dataset(10);
  nn::BatchIterator batches(data, {.batch_size = 3, .seed = 11});
  CHECK(batches.batches_per_epoch() == 4);
  CHECK(batches.examples_per_epoch() == 10);

  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<nn::Batch> batch_list = one_epoch(batches);
    REQUIRE(batch_list.size() == 4);
    CHECK(batch_list.back().size() == 1);  // 10 = 3 + 3 + 3 + 1
    std::vector<int64_t> order = order_of(batch_list);
    std::sort(order.begin(), order.end());
    for (int i = 0; i < 10; ++i) CHECK(order[i] == i);
    for (const nn::Batch& batch : batch_list) {
      CHECK(batch.epoch == epoch);
      CHECK(batch.x.shape() == ad::Shape{batch.size(), 4});
      for (int64_t k = 0; k < batch.size(); ++k) {
        CHECK(batch.y[k] == data.labels[batch.indices[k]]);
        CHECK(batch.x.flat(k * 4 + 3) == data.images.flat(batch.indices[k] * 4 + 3));
      }
    }
  }
  CHECK(batches.epochs_started() == 3);

  nn::BatchIterator dropping(data, {.batch_size = 3, .drop_last = true});
  CHECK(dropping.batches_per_epoch() == 3);
  CHECK(dropping.examples_per_epoch() == 9);
  CHECK(one_epoch(dropping).size() == 3);
  CHECK(one_epoch(dropping).size() == 3);
}

TEST_CASE("data: shuffling repeats with the seed and changes from epoch to epoch") {
  nn::Dataset data = small_dataset(50);
  nn::BatchIterator a(data, {.batch_size = 8, .seed = 5}), b(data, {.batch_size = 8, .seed = 5});
  nn::BatchIterator c(data, {.batch_size = 8, .seed = 6});
  std::vector<int64_t> a0 = order_of(one_epoch(a)), a1 = order_of(one_epoch(a));
  CHECK(order_of(one_epoch(b)) == a0);
  CHECK(order_of(one_epoch(b)) == a1);
  // Two random orders of 50 coincide with probability 1/50!: these checks cannot flake.
  CHECK(a0 != a1);
  CHECK(order_of(one_epoch(c)) != a0);

  nn::BatchIterator in_order(data, {.batch_size = 8, .shuffle = false});
  std::vector<int64_t> order = order_of(one_epoch(in_order));
  CHECK(std::is_sorted(order.begin(), order.end()));
}

TEST_CASE("data: pixels kept as bytes give the same batches as pixels kept as floats") {
  TemporaryFolder folder;
  write_gzip(folder.path / "train-images-idx3-ubyte.gz", idx_images(5, 2, 3, test_pixels(5, 6)));
  write_plain(folder.path / "train-labels-idx1-ubyte", idx_labels({0, 1, 2, 3, 4}));
  nn::Dataset floats = nn::load_mnist_format(folder.path, nn::Split::train);
  nn::Dataset bytes =
      nn::load_mnist_format(folder.path, nn::Split::train, nn::PixelStorage::bytes);
  CHECK(floats.storage() == nn::PixelStorage::floats);
  CHECK(bytes.storage() == nn::PixelStorage::bytes);
  CHECK_FALSE(bytes.images.defined());
  CHECK(bytes.pixel_bytes->size() == 30);
  // A BatchIterator keeps a copy of its Dataset: the copy shares the pixels.
  nn::BatchIterator sharing(bytes, {.batch_size = 2});
  CHECK(sharing.data().pixel_bytes.get() == bytes.pixel_bytes.get());
  CHECK(contains(data_error_of([&] { bytes.images_nchw(); }), "BatchIterator"));
  // The same subset, order and binarisation draws, so the same values bit for bit.
  for (bool binarize : {false, true}) {
    const nn::BatchOptions options{.batch_size = 2, .binarize = binarize, .seed = 9};
    nn::BatchIterator a(floats.subset({4, 0, 2}), options), b(bytes.subset({4, 0, 2}), options);
    nn::Batch x, y;
    int batches = 0;
    while (a.next(x)) {
      REQUIRE(b.next(y));
      CHECK(x.x.to_vector() == y.x.to_vector());
      CHECK(x.y == y.y);
      ++batches;
    }
    CHECK_FALSE(b.next(y));
    CHECK(batches == 2);
  }
}

TEST_CASE("data: batches in NCHW layout and float64") {
  nn::Dataset data = small_dataset(5);
  nn::BatchIterator batches(
      data, {.batch_size = 4, .shuffle = false, .layout = nn::ImageLayout::nchw, .dtype = ad::f64});
  nn::Batch batch;
  REQUIRE(batches.next(batch));
  CHECK(batch.x.shape() == ad::Shape{4, 1, 2, 2});
  CHECK(batch.x.dtype() == ad::f64);
  CHECK(batch.x.flat(3 * 4) == doctest::Approx(3.0 / 5));
}

TEST_CASE("data: dynamic binarisation draws 0/1 pixels with mean equal to the intensity") {
  // One image whose 784 pixels cycle through these intensities.
  const std::vector<float> intensities = {0.0f, 0.1f, 0.25f, 0.5f, 0.9f, 1.0f};
  nn::Dataset data;
  data.rows = data.cols = 28;
  data.name = "levels";
  data.labels = {0};
  data.images = ad::Tensor::zeros({1, 784});
  for (int j = 0; j < 784; ++j) data.images.data<float>()[j] = intensities[j % intensities.size()];

  nn::BatchIterator batches(data, {.batch_size = 1, .binarize = true, .seed = 9});
  const int epochs = 400;
  std::vector<double> ones(intensities.size(), 0), draws(intensities.size(), 0);
  std::vector<double> first_epoch;
  int64_t not_binary = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (nn::Batch batch; batches.next(batch);) {
      for (int j = 0; j < 784; ++j) {
        const double v = batch.x.flat(j);
        if (v != 0.0 && v != 1.0) ++not_binary;
        ones[j % intensities.size()] += v;
        draws[j % intensities.size()] += 1;
      }
      if (epoch == 0) first_epoch = batch.x.to_vector();
      if (epoch == 1) CHECK(batch.x.to_vector() != first_epoch);  // fresh draws each visit
    }
  }
  CHECK(not_binary == 0);
  // Each level has ~52000 Bernoulli(p) draws; the mean must lie within 5 standard
  // errors sqrt(p (1 - p) / n) of p (a false alarm about once in 3.5 million runs;
  // the seed is fixed anyway). p = 0 and p = 1 must come out exact.
  for (size_t level = 0; level < intensities.size(); ++level) {
    const double p = intensities[level], n = draws[level], mean = ones[level] / n;
    const double standard_error = std::sqrt(p * (1 - p) / n);
    CAPTURE(p);
    CAPTURE(mean);
    CHECK(std::abs(mean - p) <= 5 * standard_error);
  }
}

// ---------------------------------------------------------------------------------
// Where Fashion-MNIST is found: $FASHION_MNIST_DIR, else the Debian package's folder

namespace {

// Sets (or, with nullptr, unsets) FASHION_MNIST_DIR for one scope, then puts it back.
class DataDirVariable {
 public:
  explicit DataDirVariable(const char* value) {
    if (const char* old = std::getenv(nn::kFashionMnistDirVariable)) saved_ = old;
    set(value);
  }
  ~DataDirVariable() { set(saved_ ? saved_->c_str() : nullptr); }
  DataDirVariable(const DataDirVariable&) = delete;
  DataDirVariable& operator=(const DataDirVariable&) = delete;

 private:
  static void set(const char* value) {
    if (value)
      ::setenv(nn::kFashionMnistDirVariable, value, 1);
    else
      ::unsetenv(nn::kFashionMnistDirVariable);
  }
  std::optional<std::string> saved_;
};

}  // namespace

TEST_CASE("data: FASHION_MNIST_DIR names the folder, before the Debian package's") {
  TemporaryFolder folder("fashion_dir");
  {
    DataDirVariable variable(folder.path.c_str());
    CHECK(nn::default_data_installed());
    CHECK(nn::default_data_dir() == folder.path);
  }
  {
    const std::string missing = (folder.path / "nope").string();
    DataDirVariable variable(missing.c_str());
    CHECK_FALSE(nn::default_data_installed());
    const std::string message = data_error_of([] { nn::default_data_dir(); });
    CHECK(message.find("FASHION_MNIST_DIR=" + missing + ": no such directory") !=
          std::string::npos);
    CHECK(message.find("train-images-idx3-ubyte.gz") != std::string::npos);
  }
  {
    DataDirVariable unset(nullptr);
    CHECK(nn::default_data_installed() == fs::is_directory(nn::kFashionMnistPackageDir));
    if (!nn::default_data_installed()) {
      const std::string message = data_error_of([] { nn::default_data_dir(); });
      CHECK(message.find("FASHION_MNIST_DIR") != std::string::npos);
      CHECK(message.find("--data DIR") != std::string::npos);
    }
  }
}

// The real Fashion-MNIST (the Debian package dataset-fashion-mnist)

TEST_CASE("data: the installed Fashion-MNIST test set has 10000 images, 1000 per class") {
  if (!nn::default_data_installed()) {
    MESSAGE(
        "Fashion-MNIST is not installed: skipped (apt-get install dataset-fashion-mnist, "
        "or set FASHION_MNIST_DIR)");
    return;
  }
  nn::Dataset test = nn::load_fashion_mnist(nn::Split::test);
  CHECK(test.size() == 10000);
  CHECK(test.rows == 28);
  CHECK(test.cols == 28);
  CHECK(test.images.shape() == ad::Shape{10000, 784});
  CHECK(test.num_classes() == 10);
  CHECK(test.class_names[9] == "Ankle boot");
  std::map<int, int> per_class;
  for (int64_t label : test.labels) ++per_class[label];
  CHECK(per_class.size() == 10);
  for (const auto& entry : per_class) {  // not [label, count]: clang before 16 cannot capture those
    const int label = entry.first;
    CAPTURE(label);
    CHECK(entry.second == 1000);
  }
  const float* pixels = test.images.data<float>();
  auto [lowest, highest] = std::minmax_element(pixels, pixels + test.images.numel());
  CHECK(*lowest == 0.0f);
  CHECK(*highest == 1.0f);
}

// ---------------------------------------------------------------------------------
// Progress line

TEST_CASE("data: progress prints one line per epoch into a file, redraws in place on a terminal") {
  CHECK(nn::format_duration(0.25) == "250 ms");
  CHECK(nn::format_duration(12.34) == "12.3 s");
  CHECK(nn::format_duration(247) == "4m07s");
  CHECK(nn::format_duration(3720) == "1h02m");
  CHECK(nn::format_duration(NAN) == "?");
  CHECK(nn::format_rate(812) == "812 ex/s");
  CHECK(nn::format_rate(24100) == "24.1k ex/s");

  auto run = [](bool interactive) {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    nn::Progress progress(2, 30, file);
    progress.set_interactive(interactive);
    for (int epoch = 0; epoch < 2; ++epoch) {
      progress.start_epoch(epoch);
      progress.add(10, 1.0);
      progress.add(20, 4.0);
      CHECK(progress.end_epoch("val 2.5") == doctest::Approx(3.0));  // (10 + 80) / 30
    }
    std::rewind(file);
    std::string text;
    for (int c; (c = std::fgetc(file)) != EOF;) text += static_cast<char>(c);
    std::fclose(file);
    return text;
  };

  const std::string log = run(false);
  CHECK(std::count(log.begin(), log.end(), '\n') == 2);
  CHECK(log.find('\r') == std::string::npos);
  CHECK(log.starts_with("epoch 1/2  30/30  "));
  CHECK(contains(log, "loss 3.000"));
  CHECK(contains(log, "val 2.5\nepoch 2/2"));

  const std::string screen = run(true);
  CHECK(std::count(screen.begin(), screen.end(), '\n') == 2);
  CHECK(screen.starts_with("\repoch 1/2"));
}
