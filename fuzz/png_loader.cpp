// libFuzzer target: nn::read_png on any bytes, as gray and as RGB. It must return an
// image whose size matches its pixels, or throw nn::DataError.
//
// stb_image's decoder is compiled into this target (fuzz/stb_image_impl.cpp) so that the
// fuzzer sees its branches too.
#include "fuzz/fuzz_input.h"
#include "nn/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = fuzz::write_input("image.png", data, size);
  for (nn::Channels channels : {nn::Channels::gray, nn::Channels::rgb})
    fuzz::expect_only<nn::DataError>("read_png", [&] {
      const nn::Image image = nn::read_png(file, channels);
      if (image.width <= 0 || image.height <= 0 ||
          image.pixels.size() != static_cast<size_t>(image.width * image.height * image.channels))
        std::abort();
    });
  return 0;
}
