// The image data the training tutorials share: Fashion-MNIST from the Debian package
// (or any MNIST-format folder given with --data), split into train / validation / test,
// smaller under --quick.
//
//   std::string data_dir;
//   tut::add_data_flag(t, data_dir);
//   if (auto exit_code = t.parse(argc, argv)) return *exit_code;
//   auto data = tut::load_image_splits(t, data_dir);
//   if (!data) return 1;  // the loader's message (which file, what was wrong) is printed
//   t.note("{}", data->description);
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "nn/dataset.h"
#include "tutorials/common/tutorial.h"

namespace tut {

struct ImageSplits {
  nn::Dataset train, validation, test;
  std::string description;  // "fashion-mnist (50000 train, 10000 validation, ...) in 1.2 s"
};

// Adds `--data DIR` to the tutorial's flags (before parse).
void add_data_flag(Tutorial& t, std::string& data_dir);

// Loads train and test from data_dir (empty: the Debian package's Fashion-MNIST) and
// holds out a seeded validation split of the training set: 10000 images, or 1000 with
// --quick, which also keeps only 10000 training and 2000 test images. On failure prints
// the loader's message to stderr and returns nothing.
std::optional<ImageSplits> load_image_splits(const Tutorial& t, const std::string& data_dir);

// The positions of the first `per_class` images of each class, class by class (a figure
// that shows every class once or a few times).
std::vector<int64_t> first_of_each_class(const nn::Dataset& data, int per_class);

}  // namespace tut
