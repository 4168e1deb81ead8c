#include "nn/checkpoint.h"

#include <fmt/format.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "nn/atomic_file.h"

namespace nn {

namespace fs = std::filesystem;

// The format is defined as little-endian; on such machines bytes can be copied as they are.
static_assert(std::endian::native == std::endian::little,
              "checkpoint.cpp writes native byte order, which the format defines as little-endian");

namespace {

constexpr char kMagic[8] = {'A', 'D', 'N', 'N', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxNameLength = 4096;

// Bytes from the file (or a file name) as text a terminal shows faithfully: control
// characters, quotes and backslashes as escapes, so that a damaged name cannot cut the
// message at a NUL, break the line or pass for another name.
std::string printable(const char* bytes, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\' || c == '\'')
      s += {'\\', static_cast<char>(c)};
    else if (c < 32 || c == 127)
      s += fmt::format("\\x{:02x}", c);
    else
      s += static_cast<char>(c);  // printable ASCII, and UTF-8 bytes of non-English names
  }
  return s;
}
std::string printable(const std::string& text) { return printable(text.data(), text.size()); }

// A tensor name read from a file, for a message: escaped, and cut after 100 bytes (names
// may be 4096 bytes long, and a damaged one is noise).
std::string shown_name(const std::string& name) {
  constexpr size_t kShown = 100;
  if (name.size() <= kShown) return printable(name);
  return fmt::format("{}... ({} bytes)", printable(name.data(), kShown), name.size());
}

// Every message starts with the file, so a log line says which checkpoint was at fault.
template <class... Args>
[[noreturn]] void fail(const fs::path& file, fmt::format_string<Args...> what, Args&&... args) {
  throw CheckpointError(fmt::format("checkpoint '{}': {}", printable(file.string()),
                                    fmt::format(what, std::forward<Args>(args)...)));
}

uint32_t crc32_of(const char* bytes, size_t n) {
  // zlib's crc32 takes at most a uInt at a time.
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes), chunk);
    bytes += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

template <class T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

size_t element_size(ad::DType dtype) { return dtype == ad::f32 ? 4 : 8; }

// Reads the file's bytes front to back; running out of bytes means a truncated file.
class Reader {
 public:
  Reader(const fs::path& file, const std::string& bytes, size_t end)
      : file_(file), bytes_(bytes), end_(end) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }

  // `what` says what was being read, for the error message.
  void read(void* dst, size_t n, const std::string& what) {
    if (n == 0) return;  // (an empty tensor's data pointer may be null)
    if (n > remaining())
      fail(file_,
           "the file is truncated: it ends while reading {} ({} bytes needed at byte {}, "
           "{} left before the checksum)",
           what, n, pos_, remaining());
    std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
  }
  template <class T>
  T get(const std::string& what) {
    T value;
    read(&value, sizeof(T), what);
    return value;
  }

 private:
  const fs::path& file_;
  const std::string& bytes_;
  size_t end_;  // where the checksum starts
  size_t pos_ = 0;
};

std::string read_whole_file(const fs::path& file) {
  // Only a regular file: opening a FIFO would wait for a writer forever, and a directory
  // or a device is never a checkpoint.
  std::error_code error;
  const fs::file_status status = fs::status(file, error);
  if (!fs::exists(status)) fail(file, "no such file");
  if (fs::is_directory(status)) fail(file, "is a directory, not a checkpoint file");
  if (!fs::is_regular_file(status))
    fail(file, "not a regular file (a pipe or a device?), so not a checkpoint file");
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file, "cannot open it for reading ({})", std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) fail(file, "reading failed ({})", std::strerror(errno));
  return contents.str();
}

// Copies src's values into dst (same dtype and shape, checked by the caller).
void copy_values(const ad::Tensor& src, ad::Tensor& dst) {
  if (dst.numel() == 0) return;
  ad::dispatch(dst.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::memcpy(dst.data<T>(), src.data<T>(), sizeof(T) * static_cast<size_t>(dst.numel()));
  });
}

bool is_optimizer_state(const std::string& name) { return name.find('/') != std::string::npos; }

std::string describe(const ad::Tensor& t) {
  return fmt::format("{} {}", ad::to_string(t.dtype()), ad::to_string(t.shape()));
}

// Matches the file's tensors against the ones expected, by name; throws naming the first
// problem. Returns the file tensor for each expected one, in the same order.
std::vector<ad::Tensor> match(const fs::path& file, const std::vector<NamedTensor>& in_file,
                              const std::vector<NamedTensor>& expected, bool skip_optimizer_state) {
  std::map<std::string, ad::Tensor> by_name;
  for (const NamedTensor& t : in_file) by_name.emplace(t.name, t.tensor);
  std::vector<ad::Tensor> out;
  for (const NamedTensor& e : expected) {
    auto found = by_name.find(e.name);
    if (found == by_name.end())
      fail(file, "tensor '{}' ({}) is not in the file{}", e.name, describe(e.tensor),
           is_optimizer_state(e.name)
               ? "; was it saved without this optimiser, or with another kind of optimiser?"
               : "");
    const ad::Tensor& t = found->second;
    if (t.dtype() != e.tensor.dtype())
      fail(file, "tensor '{}' is {} in the file, expected {}", e.name, ad::to_string(t.dtype()),
           ad::to_string(e.tensor.dtype()));
    if (t.shape() != e.tensor.shape())
      fail(file, "tensor '{}' has shape {} in the file, expected {}", e.name,
           ad::to_string(t.shape()), ad::to_string(e.tensor.shape()));
    out.push_back(t);
    by_name.erase(found);
  }
  for (const NamedTensor& t : in_file)  // what is left in by_name was not expected
    if (by_name.count(t.name) && !(skip_optimizer_state && is_optimizer_state(t.name)))
      fail(file, "the file has tensor '{}' ({}), which the model does not have", shown_name(t.name),
           describe(t.tensor));
  return out;
}

}  // namespace

void write_tensors(const fs::path& file, const std::vector<NamedTensor>& tensors) {
  std::set<std::string> names;
  for (const NamedTensor& t : tensors) {
    if (t.name.empty() || t.name.size() > kMaxNameLength)
      fail(file, "cannot save a tensor whose name has {} characters (1 to {} allowed)",
           t.name.size(), kMaxNameLength);
    if (!names.insert(t.name).second)
      fail(file, "cannot save tensor '{}' twice", shown_name(t.name));
  }
  std::string out;
  out.append(kMagic, sizeof kMagic);
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, static_cast<uint32_t>(tensors.size()));
  for (const NamedTensor& t : tensors) {
    put<uint32_t>(out, static_cast<uint32_t>(t.name.size()));
    out += t.name;
    put<uint8_t>(out, t.tensor.dtype() == ad::f32 ? 0 : 1);
    put<uint8_t>(out, static_cast<uint8_t>(t.tensor.rank()));
    for (int64_t d : t.tensor.shape()) put<int64_t>(out, d);
    if (t.tensor.numel() == 0) continue;
    ad::dispatch(t.tensor.dtype(), [&](auto zero) {
      using T = decltype(zero);
      out.append(reinterpret_cast<const char*>(t.tensor.data<T>()), sizeof(T) * t.tensor.numel());
    });
  }
  put<uint32_t>(out, crc32_of(out.data(), out.size()));
  ad::write_file_atomic(file, out);
}

std::vector<NamedTensor> read_tensors(const fs::path& file) {
  const std::string bytes = read_whole_file(file);
  const size_t header = sizeof kMagic + 4 + 4, checksum = 4;
  if (bytes.size() < header + checksum)
    fail(file,
         "the file is truncated or not a checkpoint: {} bytes, less than the {} of an "
         "empty checkpoint",
         bytes.size(), header + checksum);
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    fail(file, "not a checkpoint: the file starts with '{}', expected the magic '{}'",
         printable(bytes.data(), sizeof kMagic), printable(kMagic, sizeof kMagic));

  Reader in(file, bytes, bytes.size() - checksum);
  char magic[sizeof kMagic];
  in.read(magic, sizeof magic, "the magic");
  const uint32_t version = in.get<uint32_t>("the version");
  if (version != kVersion)
    fail(file, "format version {} is not supported (this program reads version {})", version,
         kVersion);
  const uint32_t count = in.get<uint32_t>("the tensor count");

  std::vector<NamedTensor> tensors;
  std::set<std::string> names;
  for (uint32_t r = 0; r < count; ++r) {
    const std::string record = fmt::format("tensor record {} of {}", r + 1, count);
    const uint32_t length = in.get<uint32_t>("the name length of " + record);
    if (length == 0 || length > kMaxNameLength)
      fail(file, "the file is corrupt: {} has a name of {} bytes (1 to {} allowed)", record, length,
           kMaxNameLength);
    std::string name(length, '\0');
    in.read(name.data(), length, "the name of " + record);
    const std::string what = fmt::format("tensor '{}' ({})", shown_name(name), record);

    const uint8_t dtype_code = in.get<uint8_t>("the dtype of " + what);
    if (dtype_code > 1)
      fail(file, "the file is corrupt: {} has dtype code {}, expected 0 (float32) or 1 (float64)",
           what, dtype_code);
    const ad::DType dtype = dtype_code == 0 ? ad::f32 : ad::f64;
    const uint8_t rank = in.get<uint8_t>("the rank of " + what);
    if (rank > ad::kMaxRank)
      fail(file, "the file is corrupt: {} has rank {}, expected at most {}", what, rank,
           ad::kMaxRank);
    ad::Shape shape(rank);
    for (int64_t& d : shape) d = in.get<int64_t>("the shape of " + what);

    // Check the size against the bytes left before allocating, so that a damaged
    // dimension cannot ask for terabytes.
    const size_t limit = in.remaining() / element_size(dtype);
    size_t n = 1;
    for (int64_t d : shape) {
      if (d < 0) fail(file, "the file is corrupt: {} has shape {}", what, ad::to_string(shape));
      if (d != 0 && n > limit / static_cast<size_t>(d))
        fail(file,
             "the file is corrupt or truncated: {} has shape {}, more values than the {} "
             "bytes left before the checksum hold",
             what, ad::to_string(shape), in.remaining());
      n *= static_cast<size_t>(d);
    }
    ad::Tensor t = ad::Tensor::zeros(shape, dtype);
    ad::dispatch(dtype, [&](auto zero) {
      using T = decltype(zero);
      in.read(t.data<T>(), sizeof(T) * n, "the values of " + what);
    });
    if (!names.insert(name).second)
      fail(file, "the file is corrupt: tensor '{}' appears twice", shown_name(name));
    tensors.push_back({name, t});
  }
  if (in.remaining() != 0)
    fail(file, "the file is corrupt: {} unexpected bytes after the last of {} tensors",
         in.remaining(), count);

  uint32_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - checksum, checksum);
  const uint32_t computed = crc32_of(bytes.data(), bytes.size() - checksum);
  if (stored != computed)
    fail(file,
         "the file is corrupt: its CRC-32 checksum is {:08x} but its contents give {:08x} "
         "(a damaged byte somewhere in the file)",
         stored, computed);
  return tensors;
}

void save_checkpoint(const fs::path& file, const Module& model) {
  write_tensors(file, model.named_parameters());
}

void save_checkpoint(const fs::path& file, const Module& model, const Optimizer& optimizer) {
  std::vector<NamedTensor> tensors = model.named_parameters();
  for (NamedTensor& s : optimizer.state()) tensors.push_back(std::move(s));
  write_tensors(file, tensors);
}

void load_checkpoint(const fs::path& file, Module& model) {
  const std::vector<NamedTensor> in_file = read_tensors(file);
  std::vector<NamedTensor> params = model.named_parameters();
  const std::vector<ad::Tensor> values =
      match(file, in_file, params, /*skip_optimizer_state=*/true);
  // Everything is checked: only now write.
  for (size_t i = 0; i < params.size(); ++i) copy_values(values[i], params[i].tensor);
}

void load_checkpoint(const fs::path& file, Module& model, Optimizer& optimizer) {
  const std::vector<NamedTensor> in_file = read_tensors(file);
  std::vector<NamedTensor> params = model.named_parameters();
  std::vector<NamedTensor> expected = params;
  const std::vector<NamedTensor> state = optimizer.state();
  expected.insert(expected.end(), state.begin(), state.end());
  const std::vector<ad::Tensor> values = match(file, in_file, expected, false);

  std::vector<NamedTensor> new_state;
  for (size_t i = params.size(); i < expected.size(); ++i)
    new_state.push_back({expected[i].name, values[i]});
  // The optimiser validates its state (e.g. a whole step count) before changing anything,
  // and the model's copies below cannot fail: so on any error nothing has changed.
  try {
    optimizer.load_state(new_state);
  } catch (const ad::Error& e) {
    fail(file, "{}", e.what());
  }
  for (size_t i = 0; i < params.size(); ++i) copy_values(values[i], params[i].tensor);
}

}  // namespace nn
