// Checkpoints: every named parameter of a model, and optionally an optimiser's state, in
// one binary file.
//
// Example:
//
//   nn::Adam adam(model.named_parameters(), {.lr = 1e-3});
//   ... train ...
//   nn::save_checkpoint("out/vae/epoch10.ckpt", model, adam);
//   ... later, or in another program that builds the same model ...
//   nn::load_checkpoint("out/vae/epoch10.ckpt", model, adam);  // resume training
//   nn::load_checkpoint("out/vae/epoch10.ckpt", model);        // or just the weights
//
// The file is written to a temporary file that is then renamed over the target
// (ad::write_file_atomic), so a crash mid-save leaves the previous checkpoint intact.
//
// Loading checks the whole file first -- magic, version, structure, checksum -- and then
// that it holds exactly the model's tensors (same names, dtypes and shapes; and the
// optimiser's when one is given). Only then is any value written: on any error a
// CheckpointError is thrown whose message starts with the file name, names the tensor
// involved and says what was expected, and the model and optimiser are left untouched.
// Optimiser tensors in the file (names with a '/') are skipped when no optimiser is given.
//
// File format, version 1. All integers little-endian; values IEEE-754 little-endian.
//
//   offset  size        field
//   0       8           magic: the ASCII bytes "ADNNCKPT"
//   8       4  u32      version: 1
//   12      4  u32      count: the number of tensor records that follow
//   16      ...         count tensor records, each:
//                 4  u32      name length L (1 to 4096)
//                 L           name, e.g. "encoder.fc1.weight" or "adam/m/encoder.fc1.weight"
//                 1  u8       dtype: 0 = float32, 1 = float64
//                 1  u8       rank r (0 to 4)
//                 8r i64      dimensions, outermost first
//                 n*4 or n*8  the n = d1*...*dr values, row-major
//   end-4   4  u32      CRC-32 (zlib's crc32, as in gzip and PNG) of every byte before it
//
// Records are in the order of Module::named_parameters(), then Optimizer::state().
#pragma once
#include <filesystem>
#include <vector>

#include "nn/module.h"
#include "nn/optim.h"

namespace nn {

class CheckpointError : public ad::Error {
 public:
  using ad::Error::Error;
};

void save_checkpoint(const std::filesystem::path& file, const Module& model);
void save_checkpoint(const std::filesystem::path& file, const Module& model,
                     const Optimizer& optimizer);

void load_checkpoint(const std::filesystem::path& file, Module& model);
void load_checkpoint(const std::filesystem::path& file, Module& model, Optimizer& optimizer);

// The layer underneath: any list of uniquely named tensors, in the format above.
void write_tensors(const std::filesystem::path& file, const std::vector<NamedTensor>& tensors);
// Reads and fully validates a file (fresh tensors, in file order); throws CheckpointError.
std::vector<NamedTensor> read_tensors(const std::filesystem::path& file);

}  // namespace nn
