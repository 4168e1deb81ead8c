// Bad input never crashes a program. Each case runs a real tutorial on a bad flag, data
// folder, checkpoint or output folder, as a new user might, and checks the exit status
// (2 for a bad flag, 1 for anything else: never a signal or terminate's 134) and that
// the one-line message says what was wrong. Most stop before any training, so the whole
// table takes a few seconds. The Makefile passes the tutorials' folder in TUTORIAL_BIN_DIR.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/helpers.h"

namespace fs = std::filesystem;
using test_helpers::contains;
using test_helpers::TemporaryFolder;

namespace {

fs::path tutorial_bin_dir() {
  const char* dir = std::getenv("TUTORIAL_BIN_DIR");
  return dir ? fs::path(dir) : fs::path("build/release/tutorials");
}

struct Run {
  int status = -1;  // the exit status, or -1 when killed by a signal
  std::string output;  // stdout and stderr
};

// Runs a tutorial with `args` (shell words) in `folder`; a --out into the folder is added
// unless the arguments have their own.
Run run_tutorial(const std::string& name, const std::string& args, const fs::path& folder) {
  const fs::path binary = tutorial_bin_dir() / name;
  REQUIRE(fs::exists(binary));
  const fs::path log = folder / (name + ".log");
  const std::string out = contains(args, "--out") ? "" : " --out '" + (folder / name).string() + "'";
  const std::string command = test_helpers::tutorial_runner() + "'" + binary.string() + "' " +
                              args + out + " > '" + log.string() + "' 2>&1 < /dev/null";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, test_helpers::read_file(log)};
}

void write(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << bytes;
}

// An MNIST-format folder: n training and m test images of rows x cols, labels from `label`.
fs::path data_folder(const fs::path& folder, const std::string& name, uint32_t n, uint32_t m,
                     uint32_t rows, uint32_t cols, uint32_t test_rows, int label_modulus = 10) {
  const fs::path dir = folder / name;
  auto labels = [&](uint32_t count) {
    std::vector<uint8_t> l;
    for (uint32_t i = 0; i < count; ++i) l.push_back(static_cast<uint8_t>((i * 3) % label_modulus));
    return l;
  };
  write(dir / "train-images-idx3-ubyte",
        test_helpers::idx_images(n, rows, cols, std::vector<uint8_t>(size_t{n} * rows * cols, 7)));
  write(dir / "train-labels-idx1-ubyte", test_helpers::idx_labels(labels(n)));
  write(dir / "t10k-images-idx3-ubyte",
        test_helpers::idx_images(m, test_rows, cols,
                                 std::vector<uint8_t>(size_t{m} * test_rows * cols, 7)));
  write(dir / "t10k-labels-idx1-ubyte", test_helpers::idx_labels(labels(m)));
  return dir;
}

struct Case {
  std::string tutorial, args;
  int status;
  std::vector<std::string> message;  // parts the output must contain
};

void check_case(const Case& c, const fs::path& folder) {
  INFO(c.tutorial, " ", c.args);
  const Run run = run_tutorial(c.tutorial, c.args, folder);
  INFO("output:\n", run.output.substr(run.output.size() > 2000 ? run.output.size() - 2000 : 0));
  CHECK(run.status == c.status);
  for (const std::string& part : c.message) CHECK(contains(run.output, part));
  CHECK_FALSE(contains(run.output, "terminate called"));
}

}  // namespace

TEST_CASE("bad flags: the usage and exit status 2, before any work") {
  TemporaryFolder folder;
  const std::vector<Case> cases = {
      {"08_vae", "--epochs 0", 2, {"--epochs"}},
      {"08_vae", "--batch 0", 2, {"--batch"}},
      {"08_vae", "--lr nan", 2, {"--lr", "finite"}},
      {"08_vae", "--lr -1", 2, {"--lr"}},
      {"08_vae", "--lr inf", 2, {"--lr", "finite"}},
      {"01_autoencoder", "--noise nan", 2, {"--noise"}},
      {"08_vae", "--seed -1", 2, {"--seed", "whole number"}},
      {"00_autodiff_tape", "--phi nan", 2, {"--phi", "finite"}},
  };
  for (const Case& c : cases) check_case(c, folder.path);
}

TEST_CASE("data that does not fit: one line naming the file, exit status 1") {
  TemporaryFolder folder;
  const fs::path too_few = data_folder(folder.path, "too_few", 500, 50, 28, 28, 28);
  const fs::path small_images = data_folder(folder.path, "small_images", 1200, 50, 20, 20, 20);
  const fs::path mixed = data_folder(folder.path, "mixed", 1200, 50, 28, 28, 20);
  const fs::path labels = data_folder(folder.path, "labels", 1200, 50, 28, 28, 28, 40);
  const std::vector<Case> cases = {
      // Before: terminate (split_validation's exception), exit 134.
      {"08_vae", "--quick --data '" + too_few.string() + "'", 1,
       {"too_few/train-images-idx3-ubyte", "holds 500 examples, but this program needs at least 1001"}},
      {"02_softmax_classifier", "--quick --data '" + small_images.string() + "'", 1,
       {"small_images/train-images-idx3-ubyte", "20x20", "built for 28x28"}},
      // Before: a Linear shape error mid-run, uncaught (exit 134).
      {"08_vae", "--quick --data '" + mixed.string() + "'", 1,
       {"mixed/t10k-images-idx3-ubyte", "20x28"}},
      {"10_iwae_and_cvae", "--quick --data '" + labels.string() + "'", 1,
       {"labels/train-labels-idx1-ubyte", "has label 12", "10 classes"}},
      {"08_vae", "--quick --data '" + (folder.path / "nowhere").string() + "'", 1,
       {"nowhere: no such directory"}},
  };
  for (const Case& c : cases) check_case(c, folder.path);
}

TEST_CASE("a --batch that does not fit the training set: a usage error, exit status 2") {
  // Before: 08_vae --quick --batch 65536 trained one step per epoch and ended in a FAILED
  // check with no word about the batch size.
  TemporaryFolder folder;
  const fs::path data = data_folder(folder.path, "small", 2000, 50, 28, 28, 28);
  const std::string flags = "--quick --data '" + data.string() + "' ";
  const std::vector<Case> cases = {
      {"08_vae", flags + "--batch 65536", 2,
       {"--batch 65536 is larger than the training set", "images"}},
      {"08_vae", flags + "--batch 500", 2, {"--batch 500 leaves", "optimiser steps per epoch"}},
      {"10_iwae_and_cvae", flags + "--batch 65536", 2, {"--batch 65536", "training set"}},
  };
  for (const Case& c : cases) check_case(c, folder.path);
}

TEST_CASE("an output folder that cannot be written: a clear message before any work") {
  TemporaryFolder folder;
  write(folder.path / "a_file", "x");
  const std::vector<Case> cases = {
      {"00_autodiff_tape", "--out /proc", 1,
       {"cannot write in the output folder '/proc'", "--out DIR"}},
      {"00_autodiff_tape", "--out '" + (folder.path / "a_file").string() + "'", 1,
       {"exists and is not a folder"}},
  };
  for (const Case& c : cases) check_case(c, folder.path);
}

TEST_CASE("08_vae: a corrupt --ae-checkpoint fails after the VAE's own checkpoint is saved") {
  TemporaryFolder folder;
  write(folder.path / "corrupt.ckpt", "ADNNCKPT and then nothing that makes sense");
  const Run run = run_tutorial(
      "08_vae", "--quick --ae-checkpoint '" + (folder.path / "corrupt.ckpt").string() + "'",
      folder.path);
  INFO(run.output);
  CHECK(run.status == 1);
  CHECK(contains(run.output, "08_vae: error: checkpoint '" + (folder.path / "corrupt.ckpt").string()));
  CHECK(fs::exists(folder.path / "08_vae" / "vae.ckpt"));  // the trained VAE is not lost
}
