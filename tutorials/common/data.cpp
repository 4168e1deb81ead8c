#include "tutorials/common/data.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

namespace tut {

void add_data_flag(Tutorial& t, std::string& data_dir) {
  t.flags().add_option("--data", data_dir,
                       "a folder with MNIST-format files (default: the Debian package "
                       "dataset-fashion-mnist)");
}

std::optional<ImageSplits> load_image_splits(const Tutorial& t, const std::string& data_dir) {
  const auto start = std::chrono::steady_clock::now();
  auto load = [&](nn::Split split) {
    return data_dir.empty() ? nn::load_fashion_mnist(split)
                            : nn::load_mnist_format(data_dir, split);
  };
  ImageSplits splits;
  nn::Dataset full;
  try {
    full = load(nn::Split::train);
    splits.test = load(nn::Split::test);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}\n", e.what());
    return std::nullopt;
  }
  // A seed of its own, so the split does not change when a tutorial draws more numbers.
  ad::Rng split_rng(t.seed() + 3);
  auto [train, validation] = nn::split_validation(full, t.quick() ? 1000 : 10000, split_rng);
  splits.train = t.quick() ? train.first(10000) : std::move(train);
  splits.validation = std::move(validation);
  if (t.quick()) splits.test = splits.test.first(2000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  splits.description =
      fmt::format("{} ({} train, {} validation, {} test images of {}x{}), loaded in {:.1f} s",
                  full.name.empty() ? data_dir : full.name, splits.train.size(),
                  splits.validation.size(), splits.test.size(), full.rows, full.cols, seconds);
  return splits;
}

std::vector<int64_t> first_of_each_class(const nn::Dataset& data, int per_class) {
  std::vector<int64_t> picked;
  for (int c = 0; c < data.num_classes(); ++c) {
    int found = 0;
    for (int64_t i = 0; i < data.size() && found < per_class; ++i)
      if (data.labels[i] == c) {
        picked.push_back(i);
        ++found;
      }
  }
  return picked;
}

}  // namespace tut
