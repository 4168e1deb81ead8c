// libFuzzer target: nn::load_checkpoint on any bytes, into a small model with and without
// its Adam state. A load must either succeed or throw nn::CheckpointError, and a failed
// load must leave the model and the optimiser exactly as they were.
//
// The first input byte picks the mode: bit 0 set recomputes the CRC-32 over the rest (so
// that damaged structure gets past the checksum and reaches the record parser, the name,
// dtype and shape matching and the optimiser's state checks); bit 1 set loads the
// optimiser's state too. A successful load must hold exactly the file's values; the
// model is then put back as it was for the next input.
#include <zlib.h>

#include <cstring>

#include "fuzz/fuzz_input.h"
#include "nn/nn.h"

namespace {

struct Net : nn::Module {
  nn::Linear fc1, fc2;
  explicit Net(ad::Rng& rng) : fc1(3, 4, rng), fc2(4, 2, rng) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
};

// Every byte of the model's parameters and the optimiser's state, in order.
std::string bytes_of(const std::vector<nn::NamedTensor>& tensors) {
  std::string s;
  for (const nn::NamedTensor& t : tensors) {
    s += t.name;
    ad::dispatch(t.tensor.dtype(), [&](auto zero) {
      using T = decltype(zero);
      s.append(reinterpret_cast<const char*>(t.tensor.data<T>()), sizeof(T) * t.tensor.numel());
    });
  }
  return s;
}

struct Fixture {
  ad::Rng rng{1};
  Net model{rng};
  nn::Adam adam{model};
  std::filesystem::path pristine;
  std::string model_bytes, adam_bytes;

  Fixture() {
    // One step, so that the moments and the step count are not all zero.
    for (nn::NamedTensor& p : model.named_parameters()) p.tensor.zero_grad();
    ad::backward(ad::sum(model.fc2(ad::tanh(model.fc1(rng.normal({2, 3}))))));
    adam.step();
    const uint8_t none = 0;
    pristine = fuzz::write_input("pristine.ckpt", &none, 0);
    nn::save_checkpoint(pristine, model, adam);
    model_bytes = bytes_of(model.named_parameters());
    adam_bytes = bytes_of(adam.state());
  }
  bool untouched() const {
    return bytes_of(model.named_parameters()) == model_bytes && bytes_of(adam.state()) == adam_bytes;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  if (size == 0) return 0;
  const bool fix_checksum = data[0] & 1, with_optimizer = data[0] & 2;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (fix_checksum && bytes.size() >= 4) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4)));
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  }
  const auto file = fuzz::write_input("input.ckpt", reinterpret_cast<const uint8_t*>(bytes.data()),
                                      bytes.size());
  bool loaded = false;
  fuzz::expect_only<nn::CheckpointError>("load_checkpoint", [&] {
    if (with_optimizer)
      nn::load_checkpoint(file, f.model, f.adam);
    else
      nn::load_checkpoint(file, f.model);
    loaded = true;
  });
  if (!loaded) {
    if (!f.untouched()) {
      std::fprintf(stderr, "a failed load_checkpoint changed the model or the optimiser\n");
      std::abort();
    }
    return 0;
  }
  // Loaded: the model holds the file's values, name by name.
  for (const nn::NamedTensor& t : nn::read_tensors(file))
    for (const nn::NamedTensor& p : f.model.named_parameters())
      if (p.name == t.name && bytes_of({p}) != bytes_of({t})) {
        std::fprintf(stderr, "load_checkpoint did not load tensor %s as stored\n", p.name.c_str());
        std::abort();
      }
  nn::load_checkpoint(f.pristine, f.model, f.adam);
  return 0;
}
