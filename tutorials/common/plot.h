// Plot: figures as PNG, together with their data and a script to redraw them.
//
// save(dir) writes three files:
//   name.csv  the data, one row per point, columns series,x,y,label
//             (label is the integer class of a scatter_by_label point, else empty);
//   name.gp   a gnuplot script; `gnuplot name.gp` inside dir redraws the PNG, so the
//             figure can be restyled by editing the script;
//   name.png  rendered by gnuplot, if it is installed (otherwise a message says so
//             and the other two files are still written).
//
// Example:
//   tut::Plot p("kl_asymmetry", "KL(p||q) and KL(q||p)");
//   p.xlabel("mean of q").ylabel("KL (nats)").log_y();
//   p.line("KL(p||q)", mus, forward);
//   p.line("closed form", mus, closed_form, tut::LineStyle::dashed);
//   p.points("Monte Carlo", mus, estimates);
//   p.save("out/05_kl");  // out/05_kl/kl_asymmetry.{csv,gp,png}
//
//   tut::Plot latent("latent", "Posterior means, coloured by digit");
//   latent.scatter_by_label("digit", z0, z1, digits);  // legend: digit 0 ... digit 9
//
// Text (titles, labels, legends) is shown literally: "log_var" and "x^2" are not
// turned into sub/superscripts. UTF-8 such as "σ²" works.
#pragma once
#include <concepts>
#include <filesystem>
#include <iostream>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

namespace tut {

// Any range of numbers: std::vector<double>, std::vector<float>, std::span<const int>, ...
template <typename R>
concept NumberRange =
    std::ranges::input_range<R> && std::is_arithmetic_v<std::ranges::range_value_t<R>>;

template <typename R>
concept IntegerRange = std::ranges::input_range<R> && std::integral<std::ranges::range_value_t<R>>;

enum class LineStyle { solid, dashed };

// Where the key (legend) goes. automatic: top right inside the frame, or outside on
// the right for a scatter or more than six entries, so it does not hide the points.
enum class LegendPlace { automatic, top_right, top_left, bottom_right, bottom_left, outside, none };

class Plot {
 public:
  // name: the file name stem, made of letters, digits, '_', '-' and '.';
  // title: shown above the plot.
  Plot(std::string name, std::string title);

  Plot& xlabel(std::string text);
  Plot& ylabel(std::string text);
  Plot& log_x(bool on = true);
  Plot& log_y(bool on = true);
  Plot& x_range(double low, double high);
  Plot& y_range(double low, double high);
  Plot& size(int width_pixels, int height_pixels);
  Plot& legend(LegendPlace place);

  // A curve through the points in the given order. An empty legend leaves the
  // series out of the key.
  template <NumberRange X, NumberRange Y>
  Plot& line(std::string legend, const X& x, const Y& y, LineStyle style = LineStyle::solid) {
    add_series(std::move(legend), style == LineStyle::dashed ? Mark::dashed_line : Mark::line,
               to_doubles(x), to_doubles(y), {}, {});
    return *this;
  }

  // Unconnected markers, e.g. Monte Carlo estimates on top of an exact curve.
  template <NumberRange X, NumberRange Y>
  Plot& points(std::string legend, const X& x, const Y& y) {
    add_series(std::move(legend), Mark::points, to_doubles(x), to_doubles(y), {}, {});
    return *this;
  }

  // Markers coloured by an integer class label, one key entry per class present:
  // class_names[label] if given, else "<legend> <label>". A label keeps its colour
  // across figures (10 colours, then they repeat).
  template <NumberRange X, NumberRange Y, IntegerRange L>
  Plot& scatter_by_label(std::string legend, const X& x, const Y& y, const L& labels,
                         std::vector<std::string> class_names = {}) {
    std::vector<int> int_labels;
    for (auto label : labels) int_labels.push_back(static_cast<int>(label));
    add_series(std::move(legend), Mark::points, to_doubles(x), to_doubles(y), std::move(int_labels),
               std::move(class_names));
    return *this;
  }

  const std::string& name() const { return name_; }

  // The contents of name.csv and name.gp.
  std::string csv() const;
  std::string gnuplot_script() const;

  // Writes dir/name.csv, dir/name.gp and, with gnuplot, dir/name.png (each atomically;
  // dir is created if needed). Returns the PNG's path, or nothing when no PNG was made,
  // after printing one line why to `log`. Throws only if the files cannot be written.
  std::optional<std::filesystem::path> save(const std::filesystem::path& dir,
                                            std::ostream& log = std::cerr) const;

 private:
  enum class Mark { line, dashed_line, points };

  struct Series {
    std::string legend;
    Mark mark;
    std::vector<double> x, y;
    std::vector<int> labels;  // one per point for scatter_by_label, else empty
    std::vector<std::string> class_names;
  };

  // The rows of one key entry in the CSV: a whole series, or one class of a scatter.
  struct Block {
    const Series* series;
    std::optional<int> label;
    std::vector<size_t> points;  // indices into series->x / y, in CSV order
    size_t first_row;            // counted from 0 after the header line
  };

  template <NumberRange R>
  static std::vector<double> to_doubles(const R& values) {
    std::vector<double> doubles;
    for (auto value : values) doubles.push_back(static_cast<double>(value));
    return doubles;
  }

  void add_series(std::string legend, Mark mark, std::vector<double> x, std::vector<double> y,
                  std::vector<int> labels, std::vector<std::string> class_names);
  std::vector<Block> blocks() const;
  std::string log_axis_commands(char axis) const;

  std::string name_, title_, xlabel_, ylabel_;
  bool log_x_ = false, log_y_ = false;
  std::optional<std::pair<double, double>> x_range_, y_range_;
  int width_ = 800, height_ = 560;
  LegendPlace legend_place_ = LegendPlace::automatic;
  std::vector<Series> series_;
};

// Renders a Graphviz file to PNG with `dot -Tpng` (the PNG is replaced atomically).
// Returns whether the PNG was made; if not (Graphviz missing, or dot failed), prints
// one line why to `log`, followed by dot's messages.
bool render_dot(const std::filesystem::path& dot_path, const std::filesystem::path& png_path,
                std::ostream& log = std::cerr);

}  // namespace tut
