// The docs pages quote what the tutorials print. Run each tutorial (with its default sizes
// where that takes a few seconds, else with --quick and only quotes that --quick does not
// change, such as closed forms and numbers of the untrained model) and check that a few
// numbers quoted on its page appear both on the page and in the program's output. The
// Makefile passes the folder of the built tutorials in TUTORIAL_BIN_DIR (as for
// tests/test_tutorials.cpp).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/helpers.h"

namespace fs = std::filesystem;

namespace {

fs::path tutorial_bin_dir() {
  const char* dir = std::getenv("TUTORIAL_BIN_DIR");
  return dir ? fs::path(dir) : fs::path("build/release/tutorials");
}

fs::path docs_dir() { return fs::path(__FILE__).parent_path().parent_path() / "docs"; }

using test_helpers::read_file;

// Runs a tutorial into a temporary folder; returns its exit status and what it printed.
int run_tutorial(const std::string& name, const std::string& flags, std::string& output) {
  const fs::path binary = tutorial_bin_dir() / name;
  const test_helpers::TemporaryFolder folder("docs_quotes_" + name);
  const fs::path out = folder.path / "out", log = folder.path / "output.log";
  const std::string command = test_helpers::tutorial_runner() + "'" + binary.string() + "' " +
                              flags + " --out '" + out.string() + "' > '" + log.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  output = read_file(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Quotes {
  std::string tutorial, flags, page;
  std::vector<std::string> numbers;  // each must appear on the page and in the output
};

void check_quotes(const Quotes& q) {
  INFO("tutorial ", q.tutorial, " ", q.flags, ", page docs/", q.page);
  REQUIRE(fs::exists(tutorial_bin_dir() / q.tutorial));
  const std::string page = read_file(docs_dir() / q.page);
  REQUIRE(!page.empty());
  std::string output;
  CHECK(run_tutorial(q.tutorial, q.flags, output) == 0);
  for (const std::string& number : q.numbers) {
    INFO("quoted number: ", number);
    CHECK_MESSAGE(page.find(number) != std::string::npos, "not on the docs page");
    CHECK_MESSAGE(output.find(number) != std::string::npos, "not in the tutorial's output");
  }
}

}  // namespace

TEST_CASE("docs/00: the quoted numbers are what the default run prints") {
  check_quotes({"00_autodiff_tape", "", "00_autodiff_tape.md",
                {"3 vs 3", "(|diff| 2.5e-11", "(|diff| 1.3e-11", "47 variables",
                 "first row: 1.99051 0.517513 0.796639"}});
}

TEST_CASE("docs/03: the quoted numbers are what the default run prints") {
  check_quotes({"03_probability_and_monte_carlo",
                "",
                "03_probability_and_monte_carlo.md",
                {"0.2091", "-0.4947", "0.0039", "3.4146", "0.968284", "0.103453", "1.7125"}});
}

TEST_CASE("docs/04: the quoted numbers are what the default run prints") {
  check_quotes({"04_kl_divergence",
                "",
                "04_kl_divergence.md",
                {"0.09722263", "0.0974550", "0.1405979", "0.0874047", "0.0852996", "0.0963702",
                 "0.1853, -0.1737, 1.2259", "1.765403", "3.687712", "1.870007"}});
}

TEST_CASE("docs/05: the quoted numbers are what the default run prints") {
  check_quotes({"05_elbo",
                "",
                "05_elbo.md",
                {"95.3507", "-8.0468", "-10.0397", "+10.0523", "3.09997", "3.9858", "0.1550",
                 "0.2437", "0.4874", "0.7071"}});
}

TEST_CASE("docs/06: the quoted numbers are what the default run prints") {
  check_quotes({"06_reparameterization",
                "",
                "06_reparameterization.md",
                {"-1.1892", "+1.1892", "0.449", "0.670"}});
}

TEST_CASE("docs/07: closed-form numbers quoted on the page, with --quick") {
  // --quick changes only the sample sizes; these numbers are closed forms and quadratures.
  check_quotes({"07_score_function_vs_reparameterization",
                "--quick",
                "07_score_function_vs_reparameterization.md",
                {"51.5625", "12.9"}});
}

TEST_CASE("docs/11: numbers quoted on the page that --quick does not change") {
  // --quick trains on 2000 images for one epoch, so the trained model's numbers differ; the
  // model's size, the image test on uniform noise and the --quick summary line do not.
  check_quotes({"11_keras_conv_vae",
                "--quick",
                "11_keras_conv_vae.md",
                {"69,076", "65,089", "0 of 900 pass", "7 checks, 7 ok, 0 FAILED"}});
}

TEST_CASE("docs/12: the closed-form checks of L29 quoted on the page, with --quick --batch 64") {
  // These come from the untrained full-covariance VAE on the first test image. --batch 64
  // keeps the default fixed batch, which is binarised before the test images, so the first
  // test image is binarised as in the default run; --quick changes the rest.
  check_quotes({"12_estimator_lab",
                "--quick --batch 64",
                "12_estimator_lab.md",
                {"17.93257", "55 entries"}});
}

TEST_CASE("docs/13: the checks quoted on the page, with --quick") {
  // --quick shrinks only the training and the Monte Carlo sample sizes; these numbers come
  // from the small model and the closed forms, which it does not change. (The finite-
  // difference errors quoted on the page, ~1e-10, differ in their last digit between the
  // release and the sanitizer builds, so they are not compared here.)
  check_quotes({"13_fisher_autoencoder",
                "--quick",
                "13_fisher_autoencoder.md",
                {"worst difference 1.964", "-8.163265", "3.520686", "F = 13.9008", "1.8367",
                 "56 weights"}});
}
