// Datasets of small grayscale images with class labels, and mini-batches drawn from them.
//
// A Dataset holds every image in one float tensor [N, rows*cols] with pixel intensities
// scaled to [0, 1] (0 = black), and the labels as ints. The loaders read any directory
// in the MNIST file layout; Fashion-MNIST comes from the Debian package
// dataset-fashion-mnist. A BatchIterator walks a dataset in mini-batches, reshuffled each
// epoch with its own seeded Rng, optionally binarising the pixels afresh each time.
//
// Example (the start of a VAE training loop):
//
//   nn::Dataset full = nn::load_fashion_mnist(nn::Split::train);   // 60000 x 784
//   ad::Rng split_rng(7);
//   auto [train, validation] = nn::split_validation(full, 10000, split_rng);
//   if (quick) train = train.first(2000);
//
//   nn::BatchIterator batches(train, {.batch_size = 128, .binarize = true, .seed = 1});
//   for (int epoch = 0; epoch < 10; ++epoch) {
//     for (nn::Batch batch; batches.next(batch);) {
//       // batch.x: [128, 784] of 0s and 1s, batch.y: the 128 labels
//     }
//   }
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/idx.h"

namespace nn {

// Where the Debian package dataset-fashion-mnist installs its files.
inline constexpr const char* kFashionMnistPackageDir = "/usr/share/datasets/fashion-mnist";
// The environment variable that names another folder with the files (macOS, or a Linux
// without the Debian package): it is looked at first.
inline constexpr const char* kFashionMnistDirVariable = "FASHION_MNIST_DIR";

// The two halves the MNIST-format files come in: "train-*" and "t10k-*".
enum class Split { train, test };
const char* file_prefix(Split split);  // "train" or "t10k"

// How a Dataset keeps its pixels. Models read float32 intensities in [0, 1]; the files'
// own bytes (0..255) take a quarter of the memory, and a BatchIterator turns them into
// the same floats (byte / 255) one batch at a time. For the 60000 training images of
// Fashion-MNIST that is 47 MB instead of 188 MB.
enum class PixelStorage { floats, bytes };

struct Dataset {
  ad::Tensor images;                     // [N, rows*cols], f32 in [0, 1] (PixelStorage::floats)
  // N * rows*cols bytes 0..255 (PixelStorage::bytes). Shared and never written after
  // loading, like `images` (a Tensor is a handle): copying a Dataset, as a BatchIterator
  // does, shares the pixels instead of doubling the largest buffer of a training run.
  std::shared_ptr<const std::vector<uint8_t>> pixel_bytes;
  std::vector<int64_t> labels;           // N labels in [0, num_classes) (nn::cross_entropy's type)
  int64_t rows = 0, cols = 0;            // the size of each image
  std::vector<std::string> class_names;  // label -> name; empty when unknown
  std::string name;                      // for messages, e.g. "fashion-mnist train"
  std::string source;                    // the images file it was read from, for messages
  std::string labels_source;             // and the labels file

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  PixelStorage storage() const { return images.defined() ? PixelStorage::floats : PixelStorage::bytes; }
  int64_t pixels_per_image() const { return rows * cols; }
  int num_classes() const;  // class_names.size() if known, else the largest label + 1
  // The images as [N, 1, rows, cols] (one channel), for convolutional layers.
  // (PixelStorage::floats only; with bytes, draw batches through a BatchIterator.)
  ad::Tensor images_nchw() const;

  // Examples 0..n-1 (all of them when n >= size()), e.g. for --quick runs.
  Dataset first(int64_t n) const;
  // The examples at `indices`, in that order.
  Dataset subset(const std::vector<int64_t>& indices) const;
};

// Reads `dir`/<prefix>-images-idx3-ubyte and <prefix>-labels-idx1-ubyte, each either
// plain or with ".gz" (also the "<prefix>-images.idx3-ubyte" spelling of some mirrors).
// Throws nn::DataError naming the file when one is missing or malformed, or when the
// label count differs from the image count.
Dataset load_mnist_format(const std::filesystem::path& dir, Split split,
                          PixelStorage storage = PixelStorage::floats);

// Fashion-MNIST with its ten class names; dir defaults to default_data_dir().
Dataset load_fashion_mnist(Split split, const std::filesystem::path& dir = {},
                           PixelStorage storage = PixelStorage::floats);
const std::vector<std::string>& fashion_mnist_class_names();  // "T-shirt/top", ...

// Where Fashion-MNIST is found: the folder named by $FASHION_MNIST_DIR when it is set,
// else that of the installed package dataset-fashion-mnist. Throws nn::DataError naming
// the folder looked at and how to get the files (or to pass --data DIR) when it is missing.
std::filesystem::path default_data_dir();
bool default_data_installed();  // is that folder there?

// What a program assumes about its data. A file can be a valid MNIST-format file and
// still not fit: images of another size than the model was built for, labels past its
// classes, too few examples to hold some out. check_dataset throws nn::DataError naming
// the file (Dataset::source) and saying what the program needs.
struct DataNeeds {
  int64_t rows = 0, cols = 0;  // the image size the model is built for; 0 = any
  int num_classes = 0;         // every label in [0, num_classes); 0 = any
  int64_t min_examples = 1;    // at least this many examples
};
void check_dataset(const Dataset& data, const DataNeeds& needs);
// Throws nn::DataError unless the test images have the training images' size.
void check_same_image_size(const Dataset& train, const Dataset& test);

// A seeded random held-out split: `validation_size` examples drawn without replacement
// go to `validation`, the rest to `train`. Both keep the original order, and together
// they hold every example exactly once. The training part must keep at least one
// example: 0 <= validation_size < data.size(), else std::invalid_argument.
struct TrainValidation {
  Dataset train;
  Dataset validation;
};
TrainValidation split_validation(const Dataset& data, int64_t validation_size, ad::Rng& rng);

// ---- mini-batches ----

enum class ImageLayout {
  flat,  // x is [B, rows*cols]: for fully connected encoders
  nchw,  // x is [B, 1, rows, cols]: for convolutional ones
};

struct BatchOptions {
  int64_t batch_size = 128;
  bool shuffle = true;     // a new random order every epoch (else the dataset's order)
  bool binarize = false;   // dynamic binarisation: each pixel ~ Bernoulli(intensity)
  bool drop_last = false;  // skip the smaller final batch of an epoch
  ImageLayout layout = ImageLayout::flat;
  ad::DType dtype = ad::f32;
  uint64_t seed = 0;  // for the shuffling and the binarisation
};

struct Batch {
  ad::Tensor x;                  // the images, see BatchOptions::layout
  std::vector<int64_t> y;        // their labels
  std::vector<int64_t> indices;  // their positions in the dataset
  int epoch = 0;                 // the epoch this batch belongs to, counting from 0
  int64_t size() const { return static_cast<int64_t>(y.size()); }
};

// Walks a dataset in mini-batches. next() fills the next batch and returns false once
// the epoch is over; the call after that starts a new epoch with a new order.
//
// It owns an Rng seeded from options.seed rather than borrowing the model's, so the
// data order depends only on that seed: changing the model (which changes how many
// random numbers it draws) does not change which examples it sees.
class BatchIterator {
 public:
  BatchIterator(Dataset data, BatchOptions options);

  bool next(Batch& batch);
  int64_t batches_per_epoch() const;
  int64_t examples_per_epoch() const;  // size(), minus the dropped last batch if any
  int epochs_started() const { return epoch_ + 1; }
  const Dataset& data() const { return data_; }
  const BatchOptions& options() const { return options_; }

 private:
  void start_epoch();

  Dataset data_;
  BatchOptions options_;
  ad::Rng rng_;
  std::vector<int64_t> order_;  // this epoch's order of the examples
  int64_t position_ = 0;        // where the next batch starts in order_
  int epoch_ = -1;              // -1 before the first epoch
  bool in_epoch_ = false;
};

}  // namespace nn
