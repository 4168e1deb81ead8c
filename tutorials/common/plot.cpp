#include "tutorials/common/plot.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>

#include "nn/atomic_file.h"

namespace tut {
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------
// Running an external program (gnuplot, dot)

// The full path of `program` in one of the PATH folders, if it is there.
std::optional<fs::path> find_on_path(std::string_view program) {
  const char* path_variable = std::getenv("PATH");
  if (!path_variable) return std::nullopt;
  std::string_view folders = path_variable;
  while (!folders.empty()) {
    size_t colon = folders.find(':');
    std::string_view folder = folders.substr(0, colon);
    folders = colon == std::string_view::npos ? "" : folders.substr(colon + 1);
    if (folder.empty()) continue;  // an empty entry would mean "the current folder"
    fs::path candidate = fs::path(folder) / program;
    std::error_code error;
    if (fs::is_regular_file(candidate, error) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return std::nullopt;
}

struct ProgramRun {
  int exit_code;       // 0 on success; 128 + signal if killed; -1 if it did not start
  std::string output;  // everything it wrote to stdout and stderr
};

// Runs `program` with `arguments` inside `working_folder` (unless empty) and waits
// for it. No shell is involved, so file names with spaces, quotes or '$' are passed
// through untouched: nothing needs quoting and nothing can be injected.
ProgramRun run_program(const fs::path& program, const std::vector<std::string>& arguments,
                       const fs::path& working_folder = {}) {
  // Build everything the child needs before fork(): between fork and exec the child
  // may only make simple system calls (no memory allocation, no locks).
  std::vector<std::string> argv_strings{program.filename().string()};
  argv_strings.insert(argv_strings.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& argument : argv_strings) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const char* program_path = program.c_str();
  const char* folder = working_folder.empty() ? nullptr : working_folder.c_str();

  int pipe_ends[2];
  if (::pipe2(pipe_ends, O_CLOEXEC) != 0)
    return {-1, fmt::format("cannot create a pipe: {}", std::strerror(errno))};
  pid_t child = ::fork();
  if (child < 0) {
    int error = errno;
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
    return {-1, fmt::format("cannot start a process: {}", std::strerror(error))};
  }

  if (child == 0) {
    int nothing = ::open("/dev/null", O_RDONLY);  // the tool must not wait for input
    if (nothing >= 0) ::dup2(nothing, STDIN_FILENO);
    ::dup2(pipe_ends[1], STDOUT_FILENO);
    ::dup2(pipe_ends[1], STDERR_FILENO);
    if (folder && ::chdir(folder) != 0) {
      const char message[] = "cannot enter the output folder\n";
      (void)!::write(STDERR_FILENO, message, sizeof message - 1);
      ::_exit(127);
    }
    ::execv(program_path, argv.data());
    const char message[] = "cannot execute the program\n";
    (void)!::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }

  ::close(pipe_ends[1]);
  ProgramRun run{-1, {}};
  char buffer[4096];
  for (;;) {
    ssize_t got = ::read(pipe_ends[0], buffer, sizeof buffer);
    if (got > 0)
      run.output.append(buffer, static_cast<size_t>(got));
    else if (got == 0 || errno != EINTR)
      break;
  }
  ::close(pipe_ends[0]);

  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return run;
  }
  if (WIFEXITED(status))
    run.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    run.exit_code = 128 + WTERMSIG(status);
  return run;
}

// A program's messages, indented under our own line.
std::string indented(std::string_view text) {
  std::string result;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty()) result += fmt::format("    {}\n", line);
    text = end == std::string_view::npos ? "" : text.substr(end + 1);
  }
  return result;
}

// A hidden name next to `path` for a file that is renamed to `path` once complete.
fs::path temporary_next_to(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  return path.parent_path() /
         fmt::format(".{}.tmp-{}-{}", path.filename().string(), ::getpid(), counter++);
}

// ---------------------------------------------------------------------------------
// Writing gnuplot and CSV text

// A gnuplot double-quoted string; inside one, backslash starts an escape.
std::string gnuplot_string(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    if (c == '\n')
      quoted += "\\n";
    else if (static_cast<unsigned char>(c) >= 0x20)
      quoted += c;  // drop other control characters
  }
  return quoted + "\"";
}

// A CSV field (RFC 4180): quoted only when it contains a comma, quote or line break.
std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';  // a quote inside quotes is doubled
    quoted += c;
  }
  return quoted + "\"";
}

// Matplotlib's "tab10" colours: distinct from each other and familiar to many readers.
constexpr const char* palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

const char* colour_of_label(int label) { return palette[((label % 10) + 10) % 10]; }

// A plot element's look: "with ..." plus the colour.
std::string style_of(std::string_view with, const char* colour) {
  return fmt::format("{} lc rgb \"{}\"", with, colour);
}

// "Left reverse": the line sample first, then left-aligned text; "width 1" adds the
// room that gnuplot's estimate of the text width sometimes lacks.
const char* key_command(LegendPlace place) {
  switch (place) {
    case LegendPlace::automatic:
    case LegendPlace::top_right:
      return "set key top right Left reverse width 1 box opaque\n";
    case LegendPlace::top_left:
      return "set key top left Left reverse width 1 box opaque\n";
    case LegendPlace::bottom_right:
      return "set key bottom right Left reverse width 1 box opaque\n";
    case LegendPlace::bottom_left:
      return "set key bottom left Left reverse width 1 box opaque\n";
    case LegendPlace::outside:
      return "set key outside right top Left reverse width 1\n";
    case LegendPlace::none:
      return "set key off\n";
  }
  return "";
}

// Runs the script `name`.gp inside `dir` (as a student would run it by hand), which
// draws dir/`name`.png. Returns the PNG, or nothing after saying why on `log`.
std::optional<fs::path> run_gnuplot_script(const fs::path& dir, const std::string& name,
                                           std::ostream& log) {
  fs::path script_path = dir / (name + ".gp");
  fs::path png_path = dir / (name + ".png");
  auto not_made = [&](std::string_view why) {
    log << fmt::format("plot {}: PNG not made: {}; data and script are in {}\n", name, why,
                       script_path.parent_path().string());
    return std::nullopt;
  };
  std::optional<fs::path> gnuplot = find_on_path("gnuplot");
  if (!gnuplot)
    return not_made("gnuplot is not installed (not on PATH; Debian package gnuplot-nox)");

  fs::path temporary = temporary_next_to(png_path);
  ProgramRun run =
      run_program(*gnuplot,
                  {"-e", fmt::format("png_file = \"{}\"", temporary.filename().string()),
                   script_path.filename().string()},
                  dir.empty() ? fs::path(".") : dir);
  std::error_code error;
  if (run.exit_code != 0) {
    fs::remove(temporary, error);
    log << fmt::format("plot {}: PNG not made: gnuplot failed (exit code {}) on {}:\n{}", name,
                       run.exit_code, script_path.string(), indented(run.output));
    return std::nullopt;
  }
  if (!run.output.empty())  // warnings, e.g. about points that cannot go on a log axis
    log << fmt::format("plot {}: gnuplot says:\n{}", name, indented(run.output));
  fs::rename(temporary, png_path, error);
  if (error) {
    fs::remove(temporary, error);
    return not_made(fmt::format("gnuplot wrote no file ({})", error.message()));
  }
  return png_path;
}

// The script's opening: what it draws, how to redraw it, and the PNG it writes.
std::string script_header(const std::string& name, const std::string& title, int width,
                          int height) {
  std::string title_on_one_line = title;
  std::replace(title_on_one_line.begin(), title_on_one_line.end(), '\n', ' ');
  std::string s = fmt::format("# {}: {}\n", name, title_on_one_line);
  s += fmt::format("# Redraw {}.png after editing: run `gnuplot {}.gp` in this folder.\n", name,
                   name);
  s += fmt::format("set terminal pngcairo size {},{} enhanced font \"Sans,11\"\n", width, height);
  s += "# The tutorial program passes a temporary name and renames the finished file.\n";
  s += fmt::format("if (!exists(\"png_file\")) png_file = \"{}.png\"\n", name);
  return s + "set output png_file\n\n";
}

}  // namespace

// ---------------------------------------------------------------------------------
// Plot

Plot::Plot(std::string name, std::string title) : name_(std::move(name)), title_(std::move(title)) {
  // The name becomes file names and appears inside the gnuplot script, so keep it
  // to characters that need no quoting anywhere.
  bool valid =
      !name_.empty() && name_[0] != '.' && name_[0] != '-' &&
      std::all_of(name_.begin(), name_.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
  if (!valid)
    throw ad::Error(fmt::format(
        "Plot name '{}': use letters, digits, '_', '-' and '.' (it names the files)", name_));
}

Plot& Plot::xlabel(std::string text) {
  xlabel_ = std::move(text);
  return *this;
}
Plot& Plot::ylabel(std::string text) {
  ylabel_ = std::move(text);
  return *this;
}
Plot& Plot::log_x(bool on) {
  log_x_ = on;
  return *this;
}
Plot& Plot::log_y(bool on) {
  log_y_ = on;
  return *this;
}
Plot& Plot::x_range(double low, double high) {
  x_range_ = {low, high};
  return *this;
}
Plot& Plot::y_range(double low, double high) {
  y_range_ = {low, high};
  return *this;
}
Plot& Plot::legend(LegendPlace place) {
  legend_place_ = place;
  return *this;
}
Plot& Plot::equal_aspect(bool on) {
  equal_aspect_ = on;
  return *this;
}
Plot& Plot::x_categories(std::vector<std::string> names) {
  x_categories_ = std::move(names);
  return *this;
}
Plot& Plot::x_tics(std::vector<double> values) {
  x_tics_ = std::move(values);
  return *this;
}
Plot& Plot::size(int width_pixels, int height_pixels) {
  width_ = width_pixels;
  height_ = height_pixels;
  return *this;
}

void Plot::add_series(std::string legend, Mark mark, std::vector<double> x, std::vector<double> y,
                      std::vector<int> labels, std::vector<std::string> class_names) {
  if (x.size() != y.size() || (!labels.empty() && labels.size() != x.size()))
    throw ad::Error(
        fmt::format("Plot '{}', series '{}': {} x values, {} y values, {} labels", name_, legend,
                    x.size(), y.size(), labels.size()));
  series_.push_back({std::move(legend), mark, std::move(x), std::move(y), std::move(labels),
                     std::move(class_names)});
}

std::vector<Plot::Block> Plot::blocks() const {
  std::vector<Block> result;
  size_t row = 0;
  auto add_block = [&](const Series& series, std::optional<int> label, std::vector<size_t> points) {
    if (points.empty()) return;
    size_t count = points.size();
    result.push_back({&series, label, std::move(points), row});
    row += count;
  };
  for (const Series& series : series_) {
    if (series.labels.empty()) {
      std::vector<size_t> all(series.x.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      add_block(series, std::nullopt, std::move(all));
      continue;
    }
    // One block per class, so that each class is a run of consecutive rows.
    for (int label : std::set<int>(series.labels.begin(), series.labels.end())) {
      std::vector<size_t> of_label;
      for (size_t i = 0; i < series.labels.size(); ++i)
        if (series.labels[i] == label) of_label.push_back(i);
      add_block(series, label, std::move(of_label));
    }
  }
  return result;
}

std::string Plot::csv() const {
  std::string text = "series,x,y,label\n";
  for (const Block& block : blocks()) {
    std::string series = csv_field(block.series->legend);
    std::string label = block.label ? std::to_string(*block.label) : "";
    // 9 significant digits: exact for float data, and far more than a figure
    // shows for double data.
    for (size_t i : block.points)
      text += fmt::format("{},{:.9g},{:.9g},{}\n", series, block.series->x[i], block.series->y[i],
                          label);
  }
  return text;
}

// Tick marks for a logarithmic axis. gnuplot's default marks only powers of ten,
// labelled 0.0001 or 1x10^-6; here wide ranges get powers written as 10^k, and ranges
// under two decades get 1-2-5 marks, so that some mark always falls inside the data.
std::string Plot::log_axis_commands(char axis) const {
  std::string commands = fmt::format("set logscale {}\n", axis);
  const auto& range = axis == 'x' ? x_range_ : y_range_;
  double low = INFINITY, high = 0;
  if (range) {
    low = std::min(range->first, range->second);
    high = std::max(range->first, range->second);
  } else {
    for (const Series& series : series_)
      for (double v : axis == 'x' ? series.x : series.y)
        if (v > 0 && std::isfinite(v)) low = std::min(low, v), high = std::max(high, v);
  }
  if (!(low > 0 && high >= low)) return commands;  // no positive data: gnuplot's defaults

  double decades = std::log10(high / low);
  if (decades >= 2) return commands + fmt::format("set format {} \"10^{{%L}}\"\n", axis);

  std::vector<int> mantissas =
      decades >= 0.7 ? std::vector<int>{1, 2, 5} : std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<std::string> marks;
  for (int power = static_cast<int>(std::floor(std::log10(low)));
       power <= static_cast<int>(std::ceil(std::log10(high))); ++power)
    for (int m : mantissas) marks.push_back(fmt::format("{:g}", m * std::pow(10.0, power)));
  return commands +
         fmt::format("set {}tics ({})\nset format {} \"%g\"\n", axis, fmt::join(marks, ", "), axis);
}

// Title, axis labels, scales, ranges, tics and the key.
std::string Plot::axes_commands() const {
  std::string s;
  // "noenhanced": show text literally, so that _ and ^ in names stay as they are.
  s += fmt::format("set title {} noenhanced\n", gnuplot_string(title_));
  if (!xlabel_.empty()) s += fmt::format("set xlabel {} noenhanced\n", gnuplot_string(xlabel_));
  if (!ylabel_.empty()) s += fmt::format("set ylabel {} noenhanced\n", gnuplot_string(ylabel_));
  if (log_x_) s += log_axis_commands('x');
  if (log_y_) s += log_axis_commands('y');
  if (!x_categories_.empty()) {
    // Categories sit at x = 0, 1, ...: name each, and leave half a step at both ends.
    std::vector<std::string> tics;
    for (size_t i = 0; i < x_categories_.size(); ++i)
      tics.push_back(fmt::format("{} {}", gnuplot_string(x_categories_[i]), i));
    s += fmt::format("set xtics ({}) noenhanced\n", fmt::join(tics, ", "));
    s += fmt::format("set xrange [-0.5:{}]\n", static_cast<double>(x_categories_.size()) - 0.5);
  } else if (x_range_) {
    s += fmt::format("set xrange [{}:{}]\n", x_range_->first, x_range_->second);
  }
  if (!x_tics_.empty())  // after log_axis_commands, so these marks replace its own
    s += fmt::format("set xtics ({:g})\nset format x \"%g\"\n", fmt::join(x_tics_, ", "));
  if (y_range_) s += fmt::format("set yrange [{}:{}]\n", y_range_->first, y_range_->second);
  if (equal_aspect_) s += "set size ratio -1\n";
  s += "set grid\n";

  LegendPlace place = legend_place_;
  if (place == LegendPlace::automatic) {
    size_t entries = 0;
    bool has_scatter = false;
    for (const Block& block : blocks()) {
      has_scatter = has_scatter || block.label.has_value();
      entries += !borrows_colour(block.series->mark);
    }
    place = has_scatter || entries > 6 ? LegendPlace::outside : LegendPlace::top_right;
  }
  return s + key_command(place);
}

// The plot command: one element per block. A line followed by its check_points shares
// their colour, and the key shows the pair once, as a line through a dot (drawn by an
// empty "NaN" element that exists only for its key entry).
std::string Plot::plot_command(const std::vector<Block>& rows) const {
  std::vector<std::string> elements;
  size_t next_colour = 0;
  const char* colour = palette[0];
  for (size_t b = 0; b < rows.size(); ++b) {
    const Block& block = rows[b];
    const Series& series = *block.series;
    const bool checked = b + 1 < rows.size() && rows[b + 1].series->mark == Mark::check_points;
    if (!borrows_colour(series.mark))
      colour = block.label ? colour_of_label(*block.label) : palette[next_colour++ % 10];
    // Beyond ten lines the colours repeat; a dash pattern tells the repeats apart.
    const size_t repeat = block.label ? 0 : (next_colour - 1) / 10;
    const std::string dashes = series.mark == Mark::dashed_line ? " dt 2"
                               : repeat                         ? fmt::format(" dt {}", repeat + 2)
                                                                : "";
    std::string with;
    switch (series.mark) {
      case Mark::line:
      case Mark::dashed_line:
        with = "with lines lw 2" + dashes;
        break;
      case Mark::points:
        with = block.label ? "with points pt 7 ps 0.5" : "with points pt 7 ps 0.8";
        break;
      case Mark::check_points:
        with = "with points pt 7 ps 0.8";
        break;
      case Mark::companion_line:
        with = "with lines lw 1.5 dt 2";
        break;
    }
    std::string legend = series.legend;
    if (block.label) {
      int label = *block.label;
      if (label >= 0 && static_cast<size_t>(label) < series.class_names.size())
        legend = series.class_names[static_cast<size_t>(label)];
      else
        legend = legend.empty() ? std::to_string(label) : fmt::format("{} {}", legend, label);
    }
    auto title_of = [](const std::string& text) {
      return text.empty() ? std::string("notitle")
                          : fmt::format("title {} noenhanced", gnuplot_string(text));
    };
    elements.push_back(fmt::format("data every ::{}::{} using 2:3 {} {}", block.first_row,
                                   block.first_row + block.points.size() - 1,
                                   style_of(with, colour), title_of(checked ? "" : legend)));
    if (series.mark == Mark::check_points && !rows[b - 1].series->legend.empty())
      elements.push_back(fmt::format(
          "NaN {} {}",
          style_of("with linespoints lw 2 pt 7 ps 0.8" +
                       std::string(rows[b - 1].series->mark == Mark::dashed_line ? " dt 2" : ""),
                   colour),
          title_of(rows[b - 1].series->legend)));
  }
  return "\nplot \\\n    " + fmt::format("{}", fmt::join(elements, ", \\\n    ")) + "\n";
}

std::string Plot::gnuplot_script() const {
  std::vector<Block> rows = blocks();
  std::string s = script_header(name_, title_, width_, height_);
  s += fmt::format("# Data: {}.csv, columns series,x,y,label. Each key entry is a run of\n", name_);
  s += "# consecutive rows, picked by `every ::first::last` (rows count from 0 after the "
       "header).\n";
  s += "set datafile separator comma\nset datafile columnheaders\n";
  s += fmt::format("data = \"{}.csv\"\n\n", name_);
  s += axes_commands();
  if (rows.empty()) return s + "\n# No data to plot.\n";
  return s + plot_command(rows);
}

std::optional<fs::path> Plot::save(const fs::path& dir, std::ostream& log) const {
  ad::write_file_atomic(dir / (name_ + ".csv"), csv());
  ad::write_file_atomic(dir / (name_ + ".gp"), gnuplot_script());
  if (blocks().empty()) {
    log << fmt::format(
        "plot {}: PNG not made: there are no data points; data and script are in {}\n", name_,
        dir.string());
    return std::nullopt;
  }
  return run_gnuplot_script(dir, name_, log);
}

// ---------------------------------------------------------------------------------
// ImageFigure

namespace {

// Rough text extents of Sans 11 in pngcairo, enough to leave room for labels.
constexpr int kCharWidth = 8, kLineHeight = 20;

size_t longest(const std::vector<std::string>& labels) {
  size_t n = 0;
  for (const std::string& label : labels) n = std::max(n, label.size());
  return n;
}

// `set xtics (...)` / `set ytics (...)`: each label at the centre of its band of
// `extent` pixels (tiles are equal, so band i is [i, i + 1) * extent / count).
std::string tics_command(char axis, const std::vector<std::string>& labels, double extent,
                         bool from_top) {
  if (labels.empty()) return fmt::format("unset {}tics\n", axis);
  std::vector<std::string> tics;
  const double step = extent / static_cast<double>(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty()) continue;
    double centre = (static_cast<double>(i) + 0.5) * step - 0.5;
    if (from_top) centre = extent - 1 - centre;
    tics.push_back(fmt::format("{} {:.1f}", gnuplot_string(labels[i]), centre));
  }
  return fmt::format("set {}tics ({}) noenhanced\n", axis, fmt::join(tics, ", "));
}

}  // namespace

std::vector<std::string> sparse_labels(const std::vector<double>& values, size_t marks) {
  std::vector<std::string> labels(values.size());
  if (values.empty() || marks == 0) return labels;
  const size_t last = values.size() - 1;
  for (size_t m = 0; m < marks; ++m) {
    const size_t i = marks == 1 ? 0 : (m * last + (marks - 1) / 2) / (marks - 1);  // rounded
    labels[std::min(i, last)] = fmt::format("{:.2g}", values[std::min(i, last)]);
  }
  return labels;
}

ImageFigure::ImageFigure(std::string name, std::string title)
    : name_(std::move(name)), title_(std::move(title)) {
  Plot check_name(name_, title_);  // the same rule for names as a Plot's
}

ImageFigure& ImageFigure::panel(nn::Image grid, PanelLabels labels) {
  if (grid.width <= 0 || grid.height <= 0 || (grid.channels != 1 && grid.channels != 3))
    throw ad::Error(fmt::format(
        "ImageFigure '{}': panel {} is {}x{} with {} channels; expected a non-empty grid with 1 "
        "or 3 channels",
        name_, panels_.size() + 1, grid.width, grid.height, grid.channels));
  panels_.push_back({std::move(grid), std::move(labels)});
  return *this;
}

ImageFigure& ImageFigure::width(int pixels) {
  width_ = pixels;
  return *this;
}

std::string ImageFigure::panel_file(size_t index) const {
  return fmt::format("{}.panel{}.png", name_, index + 1);
}

std::vector<std::string> ImageFigure::file_names() const {
  std::vector<std::string> names{name_ + ".gp", name_ + ".png"};
  for (size_t i = 0; i < panels_.size(); ++i) names.push_back(panel_file(i));
  return names;
}

// The layout in pixels: panels side by side, each plot area as wide as its share of the
// width minus the room for labels, and as tall as that makes the pixels square.
std::string ImageFigure::gnuplot_script() const {
  struct Box {
    int left, right, top, bottom;  // margins around the image, in pixels
    double image_width, image_height;
  };
  const int figure_title = title_.empty() ? 6 : kLineHeight + 14;
  const int panel_width = panels_.empty() ? width_ : width_ / static_cast<int>(panels_.size());
  std::vector<Box> boxes;
  int height = 0;
  for (const Panel& p : panels_) {
    const PanelLabels& l = p.labels;
    Box box{};
    const int row_labels_width =
        l.row_labels.empty() ? 0 : 6 + static_cast<int>(longest(l.row_labels)) * kCharWidth;
    box.left = 10 + row_labels_width + (l.ylabel.empty() ? 0 : kLineHeight + 6);
    box.right = 10;
    box.top = l.title.empty() ? 6 : kLineHeight + 8;
    // (gnuplot sets the x label a little below one line under the tic labels, and a
    // subscript such as z₁ reaches lower still: 14 px more keep it inside the figure)
    box.bottom = 6 + (l.column_labels.empty() ? 0 : kLineHeight) +
                 (l.xlabel.empty() ? 0 : kLineHeight + 14);
    box.image_width = std::max(panel_width - box.left - box.right, 20);
    box.image_height =
        box.image_width * static_cast<double>(p.grid.height) / static_cast<double>(p.grid.width);
    height =
        std::max(height, figure_title + box.top + static_cast<int>(box.image_height) + box.bottom);
    boxes.push_back(box);
  }

  std::string s = script_header(name_, title_, width_, std::max(height, 40));
  s += fmt::format("# Each panel draws the bare grid {} (pixel coordinates, row 0 at the top).\n\n",
                   panels_.empty() ? std::string("(none)") : name_ + ".panelN.png");
  s += "unset key\nunset border\nset tics scale 0 nomirror\n";
  s += fmt::format("set multiplot title {} noenhanced\n", gnuplot_string(title_));
  auto screen_x = [&](double px) { return px / width_; };
  auto screen_y = [&](double px) { return 1 - px / std::max(height, 40); };  // px from the top
  for (size_t i = 0; i < panels_.size(); ++i) {
    const Panel& p = panels_[i];
    const Box& box = boxes[i];
    const double x0 = static_cast<double>(panel_width) * static_cast<double>(i) + box.left;
    const double y0 = figure_title + box.top;
    s += fmt::format("\n# panel {}\n", i + 1);
    s += fmt::format("set lmargin at screen {:.4f}\nset rmargin at screen {:.4f}\n", screen_x(x0),
                     screen_x(x0 + box.image_width));
    s += fmt::format("set tmargin at screen {:.4f}\nset bmargin at screen {:.4f}\n", screen_y(y0),
                     screen_y(y0 + box.image_height));
    s += fmt::format("set title {} noenhanced\n", gnuplot_string(p.labels.title));
    s += fmt::format("set xlabel {} noenhanced\n", gnuplot_string(p.labels.xlabel));
    s += fmt::format("set ylabel {} noenhanced\n", gnuplot_string(p.labels.ylabel));
    s += fmt::format("set xrange [-0.5:{}]\nset yrange [-0.5:{}]\n", p.grid.width - 0.5,
                     p.grid.height - 0.5);
    s += tics_command('x', p.labels.column_labels, static_cast<double>(p.grid.width), false);
    s += tics_command('y', p.labels.row_labels, static_cast<double>(p.grid.height), true);
    s += fmt::format("plot \"{}\" binary filetype=png with rgbimage\n", panel_file(i));
  }
  return s + "unset multiplot\n";
}

std::optional<fs::path> ImageFigure::save(const fs::path& dir, std::ostream& log) const {
  for (size_t i = 0; i < panels_.size(); ++i) nn::write_png(dir / panel_file(i), panels_[i].grid);
  ad::write_file_atomic(dir / (name_ + ".gp"), gnuplot_script());
  if (panels_.empty()) {
    log << fmt::format("figure {}: PNG not made: it has no panels\n", name_);
    return std::nullopt;
  }
  return run_gnuplot_script(dir, name_, log);
}

// ---------------------------------------------------------------------------------
// Graphviz

bool render_dot(const fs::path& dot_path, const fs::path& png_path, std::ostream& log) {
  auto not_made = [&](std::string_view why) {
    log << fmt::format("graph {}: PNG not made: {}; the graph is in {}\n",
                       dot_path.filename().string(), why, dot_path.string());
    return false;
  };
  std::optional<fs::path> dot = find_on_path("dot");
  if (!dot)
    return not_made("Graphviz is not installed ('dot' not on PATH; Debian package graphviz)");

  std::error_code error;
  if (png_path.has_parent_path()) fs::create_directories(png_path.parent_path(), error);
  // Absolute paths, so that a name starting with '-' cannot pass for an option.
  fs::path temporary = fs::absolute(temporary_next_to(png_path), error);
  ProgramRun run = run_program(
      *dot, {"-Tpng", "-o", temporary.string(), fs::absolute(dot_path, error).string()});
  if (run.exit_code != 0) {
    fs::remove(temporary, error);
    log << fmt::format("graph {}: PNG not made: dot failed (exit code {}):\n{}",
                       dot_path.filename().string(), run.exit_code, indented(run.output));
    return false;
  }
  if (!run.output.empty())
    log << fmt::format("graph {}: dot says:\n{}", dot_path.filename().string(),
                       indented(run.output));
  fs::rename(temporary, png_path, error);
  if (error) {
    fs::remove(temporary, error);
    return not_made(fmt::format("cannot move the PNG into place ({})", error.message()));
  }
  return true;
}

}  // namespace tut
