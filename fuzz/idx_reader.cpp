// libFuzzer target: nn::read_idx_images and nn::read_idx_labels on any bytes, plain or
// gzip-compressed. They must return or throw nn::DataError: no crash, no hang, no
// sanitizer report, no exception of another type.
//
// The first byte picks the file name: ending in ".gz" (the reader insists on gzip) or
// not (the reader takes gzip or plain bytes).
#include "fuzz/fuzz_input.h"
#include "nn/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool gz_name = data[0] & 1;
  const auto file = fuzz::write_input(gz_name ? "idx.gz" : "idx", data + 1, size - 1);
  fuzz::expect_only<nn::DataError>("read_idx_images", [&] {
    const nn::IdxImages images = nn::read_idx_images(file);
    if (images.pixels.size() != static_cast<size_t>(images.count * images.rows * images.cols))
      std::abort();  // the sizes must describe the pixels
  });
  fuzz::expect_only<nn::DataError>("read_idx_labels", [&] { nn::read_idx_labels(file); });
  return 0;
}
