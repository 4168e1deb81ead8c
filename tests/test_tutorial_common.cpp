// Tests of the shared tutorial frame: checks and their verdicts, the command line,
// figures (CSV + gnuplot script + PNG), Graphviz rendering and atomic file writes.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "autodiff/anomaly.h"
#include "nn/atomic_file.h"
#include "nn/idx.h"
#include "nn/image.h"
#include "tests/helpers.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/tutorial.h"

namespace fs = std::filesystem;
using test_helpers::contains;
using test_helpers::error_of;
using test_helpers::read_file;
using test_helpers::TemporaryFolder;

namespace {

std::vector<std::string> file_names_in(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool is_png(const fs::path& path) { return read_file(path).substr(0, 8) == "\x89PNG\r\n\x1a\n"; }

// Sets PATH for the lifetime of the object, e.g. to hide gnuplot.
struct ScopedPath {
  std::string saved;
  explicit ScopedPath(const char* value) : saved(std::getenv("PATH") ? std::getenv("PATH") : "") {
    ::setenv("PATH", value, 1);
  }
  ~ScopedPath() { ::setenv("PATH", saved.c_str(), 1); }
};

}  // namespace

// ---------------------------------------------------------------------------------
// Checks

TEST_CASE("checks count ok and FAILED, and finish() reports the failure in its exit code") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "checks", out, err);

  CHECK(t.check_close("L01", "equal", 1.0, 1.0, 1e-12));
  CHECK(t.check_close("L01", "within rel tol", 1.0 + 1e-7, 1.0, 1e-6));
  CHECK(t.check_close("L01", "within abs tol", 1e-10, 0.0, 0.0, 1e-9));
  CHECK(t.check_close("L01", "equal infinities", INFINITY, INFINITY, 1e-6));
  CHECK(t.check_true("L02", "a property", true, "it holds"));
  CHECK(t.checks_failed() == 0);
  CHECK(t.finish() == 0);

  CHECK_FALSE(t.check_close("L03", "too far", 1.1, 1.0, 1e-3));
  CHECK_FALSE(t.check_close("L03", "NaN never passes", std::nan(""), std::nan(""), 1.0, 1.0));
  CHECK_FALSE(t.check_true("L03", "a broken property", false));
  CHECK(t.checks_run() == 8);
  CHECK(t.checks_failed() == 3);
  CHECK(t.finish() != 0);

  std::string printed = out.str();
  CHECK(contains(printed, "00_test: 8 checks, 5 ok, 3 FAILED"));
  CHECK(contains(printed, "[L03] too far"));
  CHECK(contains(printed, "FAILED checks:"));
}

TEST_CASE("a check line shows ID, both numbers, the comparison and the verdict") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "checks", out, err);
  t.check_close("L05", "KL closed form", 0.5, 0.5, 1e-6);
  std::string line = out.str();
  CHECK(contains(line, "[L05] KL closed form:"));
  CHECK(contains(line, "0.5 vs 0.5"));
  CHECK(contains(line, "tol 1e-06 rel"));
  CHECK(line.ends_with("ok\n"));
}

TEST_CASE("a failed check prints enough digits to see the difference") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "checks", out, err);
  CHECK_FALSE(t.check_close("L05", "tiny difference", 1.00000001, 1.0, 1e-12));
  CHECK(contains(out.str(), "1.00000001"));
  CHECK(contains(out.str(), "FAILED"));
}

TEST_CASE("check_within_se passes inside n_se standard errors and fails outside, on both sides") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "Monte Carlo", out, err);
  // The estimate is 2.5 standard errors away from the exact value.
  CHECK(t.check_within_se("L07", "above, 3 se allowed", 1.05, 0.02, 1.0, 3.0));
  CHECK(t.check_within_se("L07", "below, 3 se allowed", 0.95, 0.02, 1.0, 3.0));
  CHECK_FALSE(t.check_within_se("L07", "above, 2 se allowed", 1.05, 0.02, 1.0, 2.0));
  CHECK_FALSE(t.check_within_se("L07", "below, 2 se allowed", 0.95, 0.02, 1.0, 2.0));
  CHECK(contains(out.str(), "z = +2.50"));
  CHECK(contains(out.str(), "z = -2.50"));
  CHECK(t.checks_failed() == 2);
}

TEST_CASE("check_less is strict, check_less_equal is not") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "bounds", out, err);
  CHECK(t.check_less("L09", "ELBO below log p(x)", -3.2, -3.0));
  CHECK_FALSE(t.check_less("L09", "equal is not less", 1.0, 1.0));
  CHECK(t.check_less_equal("L09", "tight bound", 1.0, 1.0));
  CHECK_FALSE(t.check_less_equal("L09", "bound above", 1.5, 1.0));
  CHECK(t.checks_failed() == 2);
}

TEST_CASE("note() formats like fmt::format and indents under the section") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "notes", out, err);
  t.section("L01", "Intro");
  t.note("trained {} steps, loss {:.2f}", 100, 0.123);
  CHECK(contains(out.str(), "[L01] Intro\n-----------\n"));
  CHECK(contains(out.str(), "  trained 100 steps, loss 0.12\n"));
}

// ---------------------------------------------------------------------------------
// Command line

TEST_CASE("parse() reads the standard flags and creates the output folder") {
  TemporaryFolder tmp;
  fs::path out_dir = tmp.path / "run" / "nested";
  std::string out_text = out_dir.string();
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "flags", out, err);
  int steps = 10;
  t.flags().add_option("--steps", steps, "training steps");
  const char* argv[] = {"00_test",        "--seed",  "7",       "--out",
                        out_text.c_str(), "--quick", "--steps", "3"};

  CHECK_FALSE(t.parse(8, argv).has_value());
  CHECK(t.seed() == 7);
  CHECK(t.quick());
  CHECK(steps == 3);
  CHECK(t.out_dir() == out_dir);
  CHECK(t.out_path("a.png") == out_dir / "a.png");
  CHECK(fs::is_directory(out_dir));
}

TEST_CASE("parse() defaults: seed 42, out/<name>, not quick") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "defaults", out, err);
  CHECK(t.seed() == 42);
  CHECK_FALSE(t.quick());
  CHECK(t.out_dir() == fs::path("out/00_test"));
}

TEST_CASE("a bad flag prints the usage and asks for exit code 2") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "flags", out, err);
  const char* argv[] = {"00_test", "--no-such-flag"};
  std::optional<int> exit_code = t.parse(2, argv);
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code == tut::usage_exit_code);
  CHECK(*exit_code == 2);
  CHECK(contains(err.str(), "--no-such-flag"));
  CHECK(contains(err.str(), "--seed"));  // the usage lists the flags

  tut::Tutorial t2("00_test", "flags", out, err);
  const char* bad_number[] = {"00_test", "--seed", "many"};
  CHECK(t2.parse(3, bad_number) == std::optional<int>(2));
  tut::Tutorial t3("00_test", "flags", out, err);
  const char* negative_seed[] = {"00_test", "--seed", "-1"};
  CHECK(t3.parse(3, negative_seed) == std::optional<int>(2));
}

TEST_CASE("parse() refuses an output folder it cannot write in, with a clear message") {
  TemporaryFolder tmp;
  std::ostringstream out, err;
  const std::string file = (tmp.path / "a_file").string();
  std::ofstream(file) << "x";
  tut::Tutorial t("00_test", "flags", out, err);
  const char* to_file[] = {"00_test", "--out", file.c_str()};
  CHECK(t.parse(3, to_file) == std::optional<int>(1));
  CHECK(contains(err.str(), "00_test: error: "));
  CHECK(contains(err.str(), "a_file' exists and is not a folder"));
  CHECK(contains(err.str(), "choose another with --out DIR"));
  // A folder that exists but is not writable: /proc (also for root).
  std::ostringstream err2;
  tut::Tutorial t2("00_test", "flags", out, err2);
  const char* read_only[] = {"00_test", "--out", "/proc"};
  CHECK(t2.parse(3, read_only) == std::optional<int>(1));
  CHECK(contains(err2.str(), "cannot write in the output folder '/proc': files cannot be created"));
}

TEST_CASE("report_errors turns any escaping error into one line and exit status 1") {
  std::ostringstream err;
  CHECK(tut::report_errors("prog", [] { return 0; }, err) == 0);
  CHECK(tut::report_errors("prog", [] { return 3; }, err) == 3);
  CHECK(err.str().empty());
  auto line_of = [](auto thrower) {
    std::ostringstream e;
    CHECK(tut::report_errors("prog", [&]() -> int { thrower(); return 0; }, e) == 1);
    return e.str();
  };
  CHECK(line_of([] { throw nn::DataError("data/x.gz: truncated"); }) ==
        "prog: error: data/x.gz: truncated\n");
  CHECK(line_of([] { throw std::bad_alloc(); }) ==
        "prog: error: out of memory; try --quick, or smaller sizes (e.g. --batch)\n");
  CHECK(contains(line_of([] { throw ad::AnomalyError("anomaly mode: ..."); }),
                 "docs/anomaly_mode.md"));
  CHECK(line_of([] { throw 42; }) == "prog: error: an unknown error\n");
}

TEST_CASE("--help prints the usage and asks for exit code 0") {
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "what this tutorial shows", out, err);
  const char* argv[] = {"00_test", "--help"};
  CHECK(t.parse(2, argv) == std::optional<int>(0));
  CHECK(contains(out.str(), "what this tutorial shows"));
  CHECK(contains(out.str(), "--quick"));
}

// ---------------------------------------------------------------------------------
// write_file_atomic

TEST_CASE("write_file_atomic creates folders, replaces a file and leaves no temporary file") {
  TemporaryFolder tmp;
  fs::path file = tmp.path / "a" / "b" / "data.csv";

  ad::write_file_atomic(file, "first version, longer than the second\n");
  CHECK(read_file(file) == "first version, longer than the second\n");
  ad::write_file_atomic(file, "second\n");
  CHECK(read_file(file) == "second\n");
  ad::write_file_atomic(file, [](std::ostream& os) { os << "third " << 3 << '\n'; });
  CHECK(read_file(file) == "third 3\n");
  CHECK(file_names_in(file.parent_path()) == std::vector<std::string>{"data.csv"});
}

TEST_CASE("write_file_atomic keeps the old file when the writer throws") {
  TemporaryFolder tmp;
  fs::path file = tmp.path / "model.ckpt";
  ad::write_file_atomic(file, "good");
  CHECK_THROWS_AS(ad::write_file_atomic(file,
                                        [](std::ostream& os) {
                                          os << "half";
                                          throw std::runtime_error("disk full, say");
                                        }),
                  std::runtime_error);
  CHECK(read_file(file) == "good");
  CHECK(file_names_in(tmp.path) == std::vector<std::string>{"model.ckpt"});
}

TEST_CASE("write_file_atomic errors name the file and the OS error") {
  TemporaryFolder tmp;
  ad::write_file_atomic(tmp.path / "plain_file", "x");
  fs::path impossible = tmp.path / "plain_file" / "child.txt";  // a file is not a folder
  try {
    ad::write_file_atomic(impossible, "x");
    FAIL("expected an exception");
  } catch (const std::runtime_error& e) {
    std::string message = e.what();
    CHECK(contains(message, impossible.string()));
    CHECK((contains(message, "Not a directory") || contains(message, "exists")));
  }
}

// ---------------------------------------------------------------------------------
// Plot

TEST_CASE("Plot CSV is tidy: series,x,y,label with each class in consecutive rows") {
  tut::Plot p("demo", "demo");
  p.line("f, g", std::vector<double>{1, 2}, std::vector<float>{3, 4});
  p.scatter_by_label("digit", std::vector<double>{0, 1, 2}, std::vector<double>{5, 6, 7},
                     std::vector<int>{1, 0, 1});
  CHECK(p.csv() ==
        "series,x,y,label\n"
        "\"f, g\",1,3,\n"
        "\"f, g\",2,4,\n"
        "digit,1,6,0\n"
        "digit,0,5,1\n"
        "digit,2,7,1\n");
  std::string script = p.gnuplot_script();
  CHECK(contains(script, "every ::0::1 using 2:3"));
  CHECK(contains(script, "every ::2::2 using 2:3"));
  CHECK(contains(script, "every ::3::4 using 2:3"));
  CHECK(contains(script, "title \"digit 0\""));
}

TEST_CASE("Plot quotes titles for gnuplot and rejects bad names and sizes") {
  tut::Plot p("quotes", "a \"quoted\" title with \\ and log_var");
  CHECK(contains(p.gnuplot_script(),
                 "set title \"a \\\"quoted\\\" title with \\\\ and log_var\" noenhanced"));
  tut::Plot two_lines("two_lines", "first line\nplot \"/etc/passwd\"");
  CHECK(contains(two_lines.gnuplot_script(), "# two_lines: first line plot \"/etc/passwd\"\n"));
  CHECK(contains(two_lines.gnuplot_script(),
                 "set title \"first line\\nplot \\\"/etc/passwd\\\"\" noenhanced"));
  CHECK_THROWS_AS(tut::Plot("../escape", "t"), ad::Error);
  CHECK_THROWS_AS(tut::Plot("with space", "t"), ad::Error);
  CHECK_THROWS_AS(p.line("x", std::vector<double>{1, 2}, std::vector<double>{1}),
                  ad::Error);
}

TEST_CASE("Plot::save writes CSV, gnuplot script and PNG, even into a folder with an odd name") {
  TemporaryFolder tmp;
  fs::path dir = tmp.path / "odd $(name) 'with' \"quotes\" ; and spaces";
  std::vector<double> xs, ys;
  for (int i = 1; i <= 50; ++i) xs.push_back(i * 0.1), ys.push_back(std::exp(i * 0.2));
  tut::Plot p("growth", "exp(2x)");
  p.xlabel("x").ylabel("y").log_y();
  p.line("exp(2x)", xs, ys).points("samples", xs, ys);

  std::ostringstream log;
  std::optional<fs::path> png = p.save(dir, log);
  CHECK(read_file(dir / "growth.csv") == p.csv());
  CHECK(read_file(dir / "growth.gp") == p.gnuplot_script());
  // gnuplot is a dependency of the project (gnuplot-nox), so the PNG must be there.
  REQUIRE_MESSAGE(png.has_value(), log.str());
  CHECK(*png == dir / "growth.png");
  CHECK(is_png(*png));
  CHECK(log.str().empty());
  CHECK(file_names_in(dir) == std::vector<std::string>{"growth.csv", "growth.gp", "growth.png"});
}

TEST_CASE("Plot::save without gnuplot still writes CSV and script and says why") {
  TemporaryFolder tmp;
  tut::Plot p("no_tool", "t");
  p.line("a", std::vector<double>{1, 2}, std::vector<double>{1, 2});
  std::ostringstream log;
  {
    ScopedPath hide_everything("/nonexistent");
    CHECK_FALSE(p.save(tmp.path, log).has_value());
  }
  CHECK(contains(log.str(), "PNG not made"));
  CHECK(contains(log.str(), "gnuplot is not installed"));
  CHECK(file_names_in(tmp.path) == std::vector<std::string>{"no_tool.csv", "no_tool.gp"});
}

TEST_CASE("Plot::save reports a gnuplot failure with its message and does not throw") {
  TemporaryFolder tmp;
  tut::Plot p("impossible", "negative values on a log axis");
  p.log_y().line("a", std::vector<double>{1, 2}, std::vector<double>{-1, -2});
  std::ostringstream log;
  CHECK_FALSE(p.save(tmp.path, log).has_value());
  CHECK(contains(log.str(), "gnuplot failed"));
  CHECK(file_names_in(tmp.path) == std::vector<std::string>{"impossible.csv", "impossible.gp"});
}

TEST_CASE("check_points take the colour of the line they check, and the key shows the pair once") {
  tut::Plot p("pair", "exact line, Monte Carlo dots");
  std::vector<double> x{1, 2, 3};
  p.line("KL(p ‖ q)", x, std::vector<double>{1, 4, 9})
      .check_points(x, std::vector<double>{1, 4.1, 8.9});
  p.line("KL(q ‖ p)", x, std::vector<double>{2, 3, 4}, tut::LineStyle::dashed)
      .check_points(x, std::vector<double>{2.1, 3, 4});
  const std::string script = p.gnuplot_script();
  CAPTURE(script);
  // first pair: blue line and blue dots, neither with its own key entry ...
  CHECK(contains(script, "every ::0::2 using 2:3 with lines lw 2 lc rgb \"#1f77b4\" notitle"));
  CHECK(contains(script,
                 "every ::3::5 using 2:3 with points pt 7 ps 0.8 lc rgb \"#1f77b4\" notitle"));
  // ... and one key entry, a line through a dot, with the line's legend (UTF-8 kept)
  CHECK(contains(script,
                 "NaN with linespoints lw 2 pt 7 ps 0.8 lc rgb \"#1f77b4\" title \"KL(p ‖ q)\""));
  // second pair: the next colour, dashed in the key as on the plot
  CHECK(contains(script,
                 "every ::9::11 using 2:3 with points pt 7 ps 0.8 lc rgb \"#ff7f0e\" notitle"));
  CHECK(contains(
      script, "NaN with linespoints lw 2 pt 7 ps 0.8 dt 2 lc rgb \"#ff7f0e\" title \"KL(q ‖ p)\""));
  CHECK(contains(script, "set key top right"));  // two key entries, not four

  tut::Plot alone("alone", "t");
  CHECK_THROWS_AS(alone.check_points(x, x), ad::Error);  // nothing to check
  alone.points("dots", x, x);
  CHECK_THROWS_AS(alone.check_points(x, x), ad::Error);  // points check no points
}

TEST_CASE("x_categories names x = 0, 1, 2 on the axis; equal_aspect makes units equal") {
  tut::Plot p("snr", "t");
  p.x_categories({"init", "one epoch", "trained"}).equal_aspect();
  p.line("a", std::vector<int>{0, 1, 2}, std::vector<double>{1, 2, 3});
  const std::string script = p.gnuplot_script();
  CHECK(contains(script, "set xtics (\"init\" 0, \"one epoch\" 1, \"trained\" 2) noenhanced\n"));
  CHECK(contains(script, "set xrange [-0.5:2.5]\n"));
  CHECK(contains(script, "set size ratio -1\n"));
  CHECK_FALSE(contains(tut::Plot("plain", "t").gnuplot_script(), "set size ratio"));
}

TEST_CASE("Beyond ten lines the colours repeat with a dash pattern, so no two lines look alike") {
  tut::Plot p("many", "t");
  for (int i = 0; i < 12; ++i)
    p.line(std::to_string(i), std::vector<int>{0, 1}, std::vector<int>{i, i});
  const std::string script = p.gnuplot_script();
  CHECK(contains(script, "every ::0::1 using 2:3 with lines lw 2 lc rgb \"#1f77b4\" title"));
  CHECK(contains(script, "every ::20::21 using 2:3 with lines lw 2 dt 3 lc rgb \"#1f77b4\" title"));
}

TEST_CASE("ImageFigure: square pixels, rows labelled at their centres, the grid drawn upright") {
  TemporaryFolder tmp;
  // A 40 x 20 grid of two rows of tiles: the top row black, the bottom row white.
  nn::Image grid{.width = 40, .height = 20, .channels = 1, .pixels = {}};
  for (int64_t r = 0; r < grid.height; ++r)
    for (int64_t c = 0; c < grid.width; ++c) grid.pixels.push_back(r < 10 ? 0 : 255);
  tut::ImageFigure bare("bare", "");
  bare.panel(grid);
  std::ostringstream log;
  REQUIRE_MESSAGE(bare.save(tmp.path, log).has_value(), log.str());
  CHECK(file_names_in(tmp.path) ==
        std::vector<std::string>{"bare.gp", "bare.panel1.png", "bare.png"});
  const nn::Image drawn = nn::read_png(tmp.path / "bare.png", nn::Channels::gray);
  // 700 wide; 680 of it for the image after 10-pixel side margins, so square pixels make
  // it 340 high, plus 6 + 6 + 6 pixels above and below.
  CHECK(drawn.width == 700);
  CHECK(drawn.height == 358);
  CHECK(drawn.at(12 + 85, 350) < 64);    // a quarter down the image: the black top row
  CHECK(drawn.at(12 + 255, 350) > 192);  // three quarters down: the white bottom row

  tut::ImageFigure labelled("labelled", "Inputs and reconstructions");
  labelled.panel(
      grid,
      {.title = "VAE", .row_labels = {"input", "θ(z)"}, .column_labels = {"a", "", "c", "d"}});
  const std::string script = labelled.gnuplot_script();
  CAPTURE(script);
  // row 0 is the top half, pixels 0..9 from the top, whose centre is y = 14.5 from the bottom
  CHECK(contains(script, "set ytics (\"input\" 14.5, \"θ(z)\" 4.5) noenhanced"));
  CHECK(contains(script, "set xtics (\"a\" 4.5, \"c\" 24.5, \"d\" 34.5) noenhanced"));
  CHECK(contains(script, "set title \"VAE\" noenhanced"));
  CHECK(contains(script, "plot \"labelled.panel1.png\" binary filetype=png with rgbimage"));
  CHECK_THROWS_AS(labelled.panel(nn::Image{}), ad::Error);
  CHECK_THROWS_AS(tut::ImageFigure("../x", "t"), ad::Error);
}

// A Tutorial whose output folder is a fresh temporary folder, parsed and ready to write.
struct TutorialWritingToFolder {
  TemporaryFolder tmp;
  std::ostringstream out, err;
  tut::Tutorial t{"00_test", "files", out, err};
  TutorialWritingToFolder() {
    const std::string folder = tmp.path.string();
    const char* argv[] = {"00_test", "--out", folder.c_str()};
    REQUIRE_FALSE(t.parse(3, argv).has_value());
  }
};

TEST_CASE_FIXTURE(TutorialWritingToFolder,
                  "Tutorial::save_figure and save_text write into the output folder") {
  tut::Plot p("curve", "curve");
  p.line("y = x", std::vector<int>{0, 1}, std::vector<int>{0, 1});
  CHECK(t.save_figure(p) == std::optional<fs::path>(tmp.path / "curve.png"));
  CHECK(t.save_text("table.csv", "a,b\n1,2\n") == tmp.path / "table.csv");
  CHECK(read_file(tmp.path / "table.csv") == "a,b\n1,2\n");
  CHECK(contains(out.str(), "figure: " + (tmp.path / "curve.png").string()));
}

TEST_CASE_FIXTURE(TutorialWritingToFolder,
                  "a second file of the same name in one run is an error that names the file") {
  t.save_text("table.csv", "first\n");
  const std::string again = error_of<ad::Error>([&] { t.save_text("table.csv", "second\n"); });
  CHECK(contains(again, (tmp.path / "table.csv").string()));
  CHECK(contains(again, "already written by this run"));
  CHECK(read_file(tmp.path / "table.csv") == "first\n");  // the first one is kept

  // A figure claims name.csv, name.gp and name.png: a data file "curve.csv" collides.
  tut::Plot p("curve", "curve");
  p.line("y = x", std::vector<int>{0, 1}, std::vector<int>{0, 1});
  t.save_figure(p);
  CHECK(contains(error_of<ad::Error>([&] { t.save_figure(p); }), "curve.csv"));
  CHECK(contains(error_of<ad::Error>([&] { t.save_text("curve.csv", "x\n"); }), "curve.csv"));
  // Files a tutorial writes itself take their path from new_file, with the same guard.
  CHECK(t.new_file("model.ckpt") == tmp.path / "model.ckpt");
  CHECK(contains(error_of<ad::Error>([&] { t.new_file("model.ckpt"); }), "model.ckpt"));
  CHECK(t.new_file("other.ckpt") == tmp.path / "other.ckpt");
}

// ---------------------------------------------------------------------------------
// Graphviz

TEST_CASE("render_dot makes a PNG, and reports a syntax error without throwing") {
  TemporaryFolder tmp;
  ad::write_file_atomic(tmp.path / "graph.dot", "digraph { x -> mul; w -> mul; mul -> y }\n");
  std::ostringstream log;
  REQUIRE_MESSAGE(tut::render_dot(tmp.path / "graph.dot", tmp.path / "png" / "graph.png", log),
                  log.str());
  CHECK(is_png(tmp.path / "png" / "graph.png"));

  ad::write_file_atomic(tmp.path / "broken.dot", "digraph { x -> \n");
  CHECK_FALSE(tut::render_dot(tmp.path / "broken.dot", tmp.path / "broken.png", log));
  CHECK(contains(log.str(), "dot failed"));
  CHECK_FALSE(fs::exists(tmp.path / "broken.png"));
  CHECK(file_names_in(tmp.path) == std::vector<std::string>{"broken.dot", "graph.dot", "png"});
}
