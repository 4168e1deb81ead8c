// nn checkpoints: round trip of a model and Adam state, the documented byte layout, and
// damaged or mismatched files (each error names the file and tensor, the model is untouched).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nn/nn.h"
#include "tests/helpers.h"

using ad::Tensor;
namespace fs = std::filesystem;
using test_helpers::read_file;
using test_helpers::TemporaryFolder;

namespace {

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
}

struct Net : nn::Module {
  nn::Linear fc1, fc2;
  Net(ad::Rng& rng, int64_t hidden = 4) : fc1(3, hidden, rng), fc2(hidden, 2, rng) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  Tensor forward(const Tensor& x) { return fc2(ad::tanh(fc1(x))); }
};

std::vector<std::vector<double>> values_of(const nn::Module& m) {
  std::vector<std::vector<double>> v;
  for (const nn::NamedTensor& p : m.named_parameters()) v.push_back(p.tensor.to_vector());
  return v;
}

std::vector<std::vector<double>> values_of(const nn::Optimizer& o) {
  std::vector<std::vector<double>> v;
  for (const nn::NamedTensor& s : o.state()) v.push_back(s.tensor.to_vector());
  return v;
}

void train_step(Net& net, nn::Optimizer& opt, const Tensor& x) {
  opt.zero_grad();
  ad::backward(nn::mse(net.forward(x), Tensor::zeros({x.dim(0), 2}), nn::Reduction::mean));
  opt.step();
}

// Loading `file` must throw a CheckpointError whose message contains the file name and
// every one of `parts`, and must leave `model` (and `optimizer`, if given) as they were.
void expect_load_fails(const fs::path& file, const std::vector<std::string>& parts, Net& model,
                       nn::Optimizer* optimizer = nullptr) {
  const auto model_before = values_of(model);
  const auto state_before = optimizer ? values_of(*optimizer) : decltype(values_of(model)){};
  std::string message;
  try {
    if (optimizer)
      nn::load_checkpoint(file, model, *optimizer);
    else
      nn::load_checkpoint(file, model);
  } catch (const nn::CheckpointError& e) {
    message = e.what();
  }
  INFO("message: ", message);
  REQUIRE_FALSE(message.empty());
  CHECK(message.find(file.string()) != std::string::npos);
  for (const std::string& part : parts) CHECK(message.find(part) != std::string::npos);
  CHECK(values_of(model) == model_before);
  if (optimizer) CHECK(values_of(*optimizer) == state_before);
}

}  // namespace

TEST_CASE("nn checkpoint: model and Adam state round-trip, and training resumes identically") {
  TemporaryFolder dir;
  const fs::path file = dir.path / "run" / "net.ckpt";  // the sub-folder is created
  ad::Rng rng(1), other(2);
  Tensor x = rng.normal({5, 3});
  Net net(rng);
  nn::Adam adam(net, {.lr = 0.05});
  for (int i = 0; i < 3; ++i) train_step(net, adam, x);
  nn::save_checkpoint(file, net, adam);
  CHECK(fs::exists(file));
  CHECK(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator()) == 1);

  Net copy(other);  // different initial values
  nn::Adam copy_adam(copy, {.lr = 0.05});
  REQUIRE(values_of(copy) != values_of(net));
  nn::load_checkpoint(file, copy, copy_adam);
  CHECK(values_of(copy) == values_of(net));  // bit for bit
  CHECK(values_of(copy_adam) == values_of(adam));
  CHECK(copy_adam.steps() == 3);

  // The next step is the same in both: the moments and the step count came back too.
  train_step(net, adam, x);
  train_step(copy, copy_adam, x);
  CHECK(values_of(copy) == values_of(net));

  // Weights only: a file with optimiser state loads into a bare model (the state is skipped).
  Net weights_only(other);
  nn::load_checkpoint(file, weights_only);
  nn::save_checkpoint(dir.path / "weights.ckpt", weights_only);
  Net again(other);
  nn::load_checkpoint(dir.path / "weights.ckpt", again);
  CHECK(values_of(again) == values_of(weights_only));
  // ... but not the other way round.
  nn::Adam fresh(again);
  expect_load_fails(dir.path / "weights.ckpt", {"'adam/step'", "not in the file"}, again, &fresh);
}

TEST_CASE("nn checkpoint: the bytes follow the documented format") {
  TemporaryFolder dir;
  ad::Rng rng(3);
  Net net(rng);
  const fs::path file = dir.path / "net.ckpt";
  nn::save_checkpoint(file, net);
  const std::string bytes = read_file(file);
  auto u32_at = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  CHECK(bytes.substr(0, 8) == "ADNNCKPT");
  CHECK(u32_at(8) == 1);   // version
  CHECK(u32_at(12) == 4);  // fc1.weight, fc1.bias, fc2.weight, fc2.bias
  CHECK(u32_at(16) == 10);
  CHECK(bytes.substr(20, 10) == "fc1.weight");
  CHECK(bytes[30] == 0);  // float32
  CHECK(bytes[31] == 2);  // rank
  int64_t dims[2];
  std::memcpy(dims, bytes.data() + 32, 16);
  CHECK(dims[0] == 3);
  CHECK(dims[1] == 4);
  float first;
  std::memcpy(&first, bytes.data() + 48, 4);
  CHECK(first == net.fc1.weight.data<float>()[0]);
  // Size: header, then per record 4 + name + 2 + 8 * rank + 4 * numel; then the checksum.
  size_t size = 16;
  for (const nn::NamedTensor& p : net.named_parameters())
    size += 4 + p.name.size() + 2 + 8 * p.tensor.rank() + 4 * p.tensor.numel();
  CHECK(bytes.size() == size + 4);
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
                          static_cast<uInt>(bytes.size() - 4));
  CHECK(u32_at(bytes.size() - 4) == static_cast<uint32_t>(crc));

  // read_tensors gives back the same names, shapes and values, in order.
  std::vector<nn::NamedTensor> read = nn::read_tensors(file);
  REQUIRE(read.size() == 4);
  CHECK(read[3].name == "fc2.bias");
  CHECK(read[2].tensor.shape() == ad::Shape{4, 2});
  CHECK(read[2].tensor.to_vector() == net.fc2.weight.to_vector());
}

TEST_CASE("nn checkpoint: truncated, flipped byte, wrong magic -> error naming the file") {
  TemporaryFolder dir;
  ad::Rng rng(4), other(5);
  Net saved(rng);
  const fs::path good = dir.path / "good.ckpt";
  nn::save_checkpoint(good, saved);
  const std::string bytes = read_file(good);
  Net model(other);  // the model we try to load into: it must stay as it is

  SUBCASE("truncated inside a tensor's values") {
    // Header 16 bytes; record 1 "fc1.weight": 4 + 10 + 1 + 1 + 16 = 32 bytes, then 48 of values.
    const fs::path file = dir.path / "cut.ckpt";
    write_bytes(file, bytes.substr(0, 16 + 32 + 20));
    expect_load_fails(file, {"truncated", "tensor 'fc1.weight'"}, model);
  }
  SUBCASE("truncated to half, and to a few bytes") {
    const fs::path file = dir.path / "half.ckpt";
    write_bytes(file, bytes.substr(0, bytes.size() / 2));
    expect_load_fails(file, {"truncated", "tensor '"}, model);
    write_bytes(file, bytes.substr(0, 10));
    expect_load_fails(file, {"truncated"}, model);
  }
  SUBCASE("one flipped byte in the values") {
    std::string damaged = bytes;
    damaged[bytes.size() - 10] ^= 0x01;  // in the values of the last tensor, fc2.bias
    const fs::path file = dir.path / "flipped.ckpt";
    write_bytes(file, damaged);
    expect_load_fails(file, {"corrupt", "checksum"}, model);
  }
  SUBCASE("one flipped byte in a dimension") {
    std::string damaged = bytes;
    damaged[32 + 7] ^= 0x40;  // the top byte of fc1.weight's first dimension: a huge size
    const fs::path file = dir.path / "dims.ckpt";
    write_bytes(file, damaged);
    expect_load_fails(file, {"tensor 'fc1.weight'"}, model);
  }
  SUBCASE("wrong magic") {
    std::string damaged = bytes;
    damaged.replace(0, 4, "PK\x03\x04");  // a zip file, say
    const fs::path file = dir.path / "magic.ckpt";
    write_bytes(file, damaged);
    expect_load_fails(file, {"magic", "ADNNCKPT", "PK\\x03\\x04"}, model);
  }
  SUBCASE("a file that does not exist") {
    expect_load_fails(dir.path / "missing.ckpt", {"no such file"}, model);
  }
}

TEST_CASE("nn checkpoint: a model that does not match -> error naming file, tensor, expectation") {
  TemporaryFolder dir;
  ad::Rng rng(6), other(7);
  Net saved(rng);
  nn::Adam saved_adam(saved);
  train_step(saved, saved_adam, rng.normal({2, 3}));
  const fs::path file = dir.path / "net.ckpt";
  nn::save_checkpoint(file, saved, saved_adam);

  SUBCASE("mismatched shape") {
    Net wider(other, /*hidden=*/5);
    expect_load_fails(file, {"tensor 'fc1.weight'", "[3x4] in the file", "expected [3x5]"}, wider);
    nn::Adam adam(wider);  // and with an optimiser: neither is touched
    train_step(wider, adam, other.normal({2, 3}));
    expect_load_fails(file, {"tensor 'fc1.weight'", "expected [3x5]"}, wider, &adam);
  }
  SUBCASE("mismatched dtype") {
    Net model(other);
    model.fc2.bias = Tensor::zeros({2}, ad::f64);  // the registry holds the member: now f64
    expect_load_fails(file, {"tensor 'fc2.bias'", "float32 in the file", "expected float64"},
                      model);
  }
  SUBCASE("a tensor the model does not have, and one the file does not have") {
    struct Bigger : Net {
      Tensor extra = Tensor::zeros({2});
      explicit Bigger(ad::Rng& r) : Net(r) { register_parameter("extra", extra); }
    };
    Bigger bigger(other);
    expect_load_fails(file, {"tensor 'extra'", "not in the file"}, bigger);

    struct Lean : nn::Module {
      nn::Linear fc1;
      explicit Lean(ad::Rng& r) : fc1(3, 4, r) { register_module("fc1", fc1); }
    };
    Lean lean(other);
    const auto before = values_of(lean);
    try {
      nn::load_checkpoint(file, lean);
      FAIL("loaded a file with extra tensors");
    } catch (const nn::CheckpointError& e) {
      CHECK(std::string(e.what()).find("tensor 'fc2.weight'") != std::string::npos);
      CHECK(std::string(e.what()).find(file.string()) != std::string::npos);
    }
    CHECK(values_of(lean) == before);
  }
  SUBCASE("state of another optimiser") {
    Net model(other);
    nn::SGD sgd(model, {.lr = 0.1, .momentum = 0.9});
    expect_load_fails(file, {"'sgd/step'", "another kind of optimiser"}, model, &sgd);
  }
}

TEST_CASE("nn checkpoint: a step count that is not a whole number in range is refused") {
  // Each file is well formed (written by write_tensors, so the checksum is right): only the
  // value of adam/step is wrong. Before, inf and 2^64 loaded (an undefined conversion to
  // int64, then bias corrections of -inf that silently stopped training).
  TemporaryFolder dir;
  ad::Rng rng(8);
  Net model(rng);
  nn::Adam adam(model);
  train_step(model, adam, rng.normal({2, 3}));
  const fs::path file = dir.path / "step.ckpt";
  for (double step : {double(INFINITY), -double(INFINITY), double(NAN), -1.0, 2.5, 0x1p64, 0x1p53 + 2}) {
    CAPTURE(step);
    std::vector<nn::NamedTensor> tensors = model.named_parameters();
    for (nn::NamedTensor& s : adam.state())
      tensors.push_back(s.name == "adam/step" ? nn::NamedTensor{s.name, Tensor::scalar(step, ad::f64)}
                                              : s);
    nn::write_tensors(file, tensors);
    expect_load_fails(file, {"adam load_state", "step count", "whole number from 0 to 2^53"},
                      model, &adam);
  }
  // The largest allowed count loads.
  std::vector<nn::NamedTensor> tensors = model.named_parameters();
  for (nn::NamedTensor& s : adam.state())
    tensors.push_back(s.name == "adam/step" ? nn::NamedTensor{s.name, Tensor::scalar(0x1p53, ad::f64)}
                                            : s);
  nn::write_tensors(file, tensors);
  nn::load_checkpoint(file, model, adam);
  CHECK(adam.state()[0].tensor.item() == 0x1p53);
}

TEST_CASE("nn checkpoint: only regular files are read: a FIFO does not hang, a directory is named") {
  TemporaryFolder dir;
  ad::Rng rng(9);
  Net model(rng);
  expect_load_fails(dir.path, {"is a directory, not a checkpoint file"}, model);
  const fs::path fifo = dir.path / "pipe.ckpt";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  expect_load_fails(fifo, {"not a regular file"}, model);  // (before: waited for a writer)
}

TEST_CASE("nn checkpoint: names read from a file are escaped and shortened in messages") {
  TemporaryFolder dir;
  ad::Rng rng(10);
  Net model(rng);
  const fs::path file = dir.path / "names.ckpt";
  // A NUL inside a name used to end the message there; a newline broke the log line.
  auto with_extra = [&](std::string name) {
    std::vector<nn::NamedTensor> tensors = model.named_parameters();
    tensors.push_back({std::move(name), Tensor::zeros({2})});
    return tensors;
  };
  nn::write_tensors(file, with_extra(std::string("fc1.weight\0junk\nmore", 20)));
  std::string message = test_helpers::error_of<nn::CheckpointError>([&] { nn::load_checkpoint(file, model); });
  INFO(message);
  CHECK(message.find("fc1.weight\\x00junk\\x0amore") != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.find("which the model does not have") != std::string::npos);
  nn::write_tensors(file, with_extra(std::string(3000, 'w')));
  message = test_helpers::error_of<nn::CheckpointError>([&] { nn::load_checkpoint(file, model); });
  CHECK(message.find("... (3000 bytes)") != std::string::npos);
  CHECK(message.size() < 400);
}
