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
//   latent.equal_aspect();  // one unit of z_1 as long as one unit of z_2
//
//   tut::Plot kl("kl", "KL(p ‖ q) as the mean of q moves");
//   kl.line("KL(p ‖ q)", mus, closed_form).check_points(mus, monte_carlo);
//   // the dots take the line's colour; the key shows the pair once, as a line through a dot
//
//   tut::Plot snr("snr", "SNR at three checkpoints");
//   snr.x_categories({"init", "one epoch", "trained"});  // x = 0, 1, 2 named on the axis
//
// Text (titles, labels, legends) is shown literally: "log_var" and "x^2" are not
// turned into sub/superscripts. Write the notes' symbols in UTF-8: "σ²", "E_q[log p(x|z)]".
//
// ImageFigure (below) draws grids of image tiles with a title and labelled rows and columns.
#pragma once
#include <concepts>
#include <filesystem>
#include <iostream>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

#include "nn/image.h"

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
  // One unit on x as long as one unit on y (gnuplot's `set size ratio -1`): for latent
  // codes, where distances and the shape of clusters mean something.
  Plot& equal_aspect(bool on = true);
  // An x axis of named categories: x = 0, 1, ... are shown as names[0], names[1], ...
  // (no numbers in between), with half a step of room at either end.
  Plot& x_categories(std::vector<std::string> names);
  // Tick marks on x exactly at these values (e.g. the dimensions that were measured).
  Plot& x_tics(std::vector<double> values);

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

  // Markers that check the curve added just before (exact values against estimates):
  // drawn in that curve's colour, and shown in the key once, with the curve's legend,
  // as a line through a dot.
  template <NumberRange X, NumberRange Y>
  Plot& check_points(const X& x, const Y& y) {
    if (series_.empty() || series_.back().mark == Mark::points)
      throw ad::Error("Plot '" + name_ + "': check_points needs a line before it");
    add_series("", Mark::check_points, to_doubles(x), to_doubles(y), {}, {});
    return *this;
  }

  // A dashed line without a key entry, in the colour of the curve added before it (and
  // of that curve's check_points): the limit or approximation that curve tends to. Say
  // in the title or the curve's legend what the dashed lines are.
  template <NumberRange X, NumberRange Y>
  Plot& companion_line(const X& x, const Y& y) {
    if (series_.empty())
      throw ad::Error("Plot '" + name_ + "': companion_line needs a curve before it");
    add_series("", Mark::companion_line, to_doubles(x), to_doubles(y), {}, {});
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
  enum class Mark { line, dashed_line, points, check_points, companion_line };
  // check_points and companion_line take the colour of the series before them.
  static bool borrows_colour(Mark mark) {
    return mark == Mark::check_points || mark == Mark::companion_line;
  }

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
  std::string axes_commands() const;
  std::string plot_command(const std::vector<Block>& rows) const;

  std::string name_, title_, xlabel_, ylabel_;
  bool log_x_ = false, log_y_ = false;
  std::optional<std::pair<double, double>> x_range_, y_range_;
  int width_ = 800, height_ = 560;
  LegendPlace legend_place_ = LegendPlace::automatic;
  bool equal_aspect_ = false;
  std::vector<std::string> x_categories_;
  std::vector<double> x_tics_;
  std::vector<Series> series_;
};

// ---- grids of image tiles, titled and labelled ----
//
// Each panel is one grid of tiles (nn::image_grid or nn::image_grid_rows) shown by
// gnuplot's `with rgbimage`, pixels square, with a panel title and text beside each row
// and under each column (an empty label leaves that row or column unlabelled); panels
// stand side by side under the figure's title. save(dir) writes name.gp, the bare grids
// name.panel1.png, name.panel2.png, ... (what the script draws) and name.png.
//
//   tut::ImageFigure f("reconstructions", "Test images and their reconstructions");
//   f.panel(nn::image_grid_rows({x, x_hat}), {.row_labels = {"input x", "mean of p(x|z)"}});
//   f.save("out/08_vae");
// (Each member has an initializer, so that designated initializers may leave any out.)
struct PanelLabels {
  std::string title{};
  std::vector<std::string> row_labels{};     // top to bottom, one per row of tiles
  std::vector<std::string> column_labels{};  // left to right, one per column of tiles
  std::string xlabel{}, ylabel{};            // under the column labels / left of the rows
};

// Labels for rows or columns of tiles at the values `values` (e.g. the z of a decoded
// grid): `marks` of them evenly spaced, first and last included, the others "" so that
// the labels do not crowd.
std::vector<std::string> sparse_labels(const std::vector<double>& values, size_t marks = 5);

class ImageFigure {
 public:
  ImageFigure(std::string name, std::string title);
  ImageFigure& panel(nn::Image grid, PanelLabels labels = {});
  // The PNG's width; its height follows from the panels' shapes.
  ImageFigure& width(int pixels);

  const std::string& name() const { return name_; }
  std::vector<std::string> file_names() const;  // every file save() writes
  std::string gnuplot_script() const;
  // Like Plot::save; without gnuplot, the bare grids are still written.
  std::optional<std::filesystem::path> save(const std::filesystem::path& dir,
                                            std::ostream& log = std::cerr) const;

 private:
  struct Panel {
    nn::Image grid;
    PanelLabels labels;
  };
  std::string panel_file(size_t index) const;

  std::string name_, title_;
  int width_ = 700;
  std::vector<Panel> panels_;
};

// Renders a Graphviz file to PNG with `dot -Tpng` (the PNG is replaced atomically).
// Returns whether the PNG was made; if not (Graphviz missing, or dot failed), prints
// one line why to `log`, followed by dot's messages.
bool render_dot(const std::filesystem::path& dot_path, const std::filesystem::path& png_path,
                std::ostream& log = std::cerr);

}  // namespace tut
