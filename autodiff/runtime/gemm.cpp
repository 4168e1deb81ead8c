// gemm: run-time ISA dispatch, the reference kernel, and the cache-blocked,
// packed, threaded (parallel_for) driver shared by the AVX2, AVX-512 and NEON microkernels.
// The design of the blocking is described in gemm_kernels.h.
#include "autodiff/runtime/gemm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <string>

#include "autodiff/shape.h"
#include "autodiff/runtime/gemm_kernels.h"
#include "autodiff/runtime/parallel.h"
#include "autodiff/runtime/scratch.h"

namespace ad {

using gemm_detail::APanel;
using gemm_detail::BPanel;
using gemm_detail::CTile;
using gemm_detail::GemmKernel;

namespace {

// ---- operands -------------------------------------------------------------------

// op(X) of a row-major matrix: element (row, col) of op(X), whether X is stored
// as is or transposed.
template <class T>
struct Operand {
  const T* data;
  int64_t ld;
  bool trans;

  const T* address(int64_t row, int64_t col) const {
    return trans ? data + col * ld + row : data + row * ld + col;
  }
  T at(int64_t row, int64_t col) const { return *address(row, col); }
  // op(X) without its first `rows` rows / `cols` columns (a thread's share).
  Operand skip_rows(int64_t rows) const {
    return {trans ? data + rows : data + rows * ld, ld, trans};
  }
  Operand skip_cols(int64_t cols) const {
    return {trans ? data + cols * ld : data + cols, ld, trans};
  }
};

// Where the A micro-panels come from: op(A), packed block by block as the loops reach it,
// or a PackedA that holds them all already. first_row: the row of op(A) where this
// thread's part of C begins.
template <class T>
struct ASource {
  Operand<T> a;
  const PackedA<T>* packed;
  int64_t first_row;

  ASource skip_rows(int64_t rows) const { return {a.skip_rows(rows), packed, first_row + rows}; }
};

// A stored rows x cols row-major needs a leading dimension of at least cols.
void check_leading_dimension(const char* name, int64_t ld, int64_t rows, int64_t cols) {
  if (ld < cols)
    throw Error(fmt::format("gemm: {} is stored as {} x {}, so ld{} must be >= {}, got {}", name,
                            rows, cols, name, cols, ld));
}

void check_arguments(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda,
                     int64_t ldb, int64_t ldc) {
  if (m < 0 || n < 0 || k < 0)
    throw Error(fmt::format("gemm: negative matrix size m = {}, n = {}, k = {}", m, n, k));
  if (m == 0 || n == 0) return;
  if (k > 0) {
    check_leading_dimension("a", lda, trans_a ? k : m, trans_a ? m : k);
    check_leading_dimension("b", ldb, trans_b ? n : k, trans_b ? k : n);
  }
  check_leading_dimension("c", ldc, m, n);
}

// C = beta * C, where beta == 0 overwrites C (even NaN) as BLAS does.
template <class T>
void scale(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  if (beta == T(1)) return;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

// ---- reference ------------------------------------------------------------------

// The definition: c_ij = alpha * sum_p op(A)_ip op(B)_pj + beta * c_ij.
template <class T>
void gemm_reference(Operand<T> a, Operand<T> b, int64_t m, int64_t n, int64_t k, T alpha, T beta,
                    T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      T sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += a.at(i, p) * b.at(p, j);
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? alpha * sum : alpha * sum + beta * cij;
    }
  }
}

// ---- blocked driver -------------------------------------------------------------

// Packed panels live in per-thread Scratch buffers (scratch.h), kept between calls: large
// allocations would otherwise be fresh mmap'ed pages (page faults) on every call. The
// packing routines themselves belong to each ISA's kernel (gemm_pack.h for x86-64).

// Where the microkernel reads a micro-panel from.
//
// A panel that the macro-kernel reads several times (an A panel is read once per B
// panel of the block, a B panel once per A panel) is packed, right before its first
// use so that the copy is still in cache for the microkernel, and read from the
// packed copy afterwards. A panel read only once is cheaper to read in place than to
// copy first: a narrow C (n <= nr, e.g. m = 128, n = 20) reads A once, a single row
// block (m <= mr) reads B once. In place works whenever the microkernel can stride
// through the caller's matrix and needs no zero padding.

// The A micro-panel of `rows` rows of op(A) from (row, p0), `depth` steps deep.
template <class T>
APanel<T> a_panel(const GemmKernel<T>& kernel, const ASource<T>& source, int64_t row, int64_t p0,
                  int rows, int64_t depth, bool reused, bool first_use, T* slot) {
  if (source.packed) return {source.packed->panel(source.first_row + row, p0), 1, kernel.mr};
  const Operand<T>& a = source.a;
  const T* start = a.address(row, p0);
  if (!reused && rows == kernel.mr) return {start, a.trans ? 1 : a.ld, a.trans ? a.ld : 1};
  if (first_use || !reused) kernel.pack_a(start, a.ld, a.trans, rows, depth, slot);
  return {slot, 1, kernel.mr};
}

// The B micro-panel of `cols` columns of op(B) from (p0, col), `depth` steps deep.
// In place needs whole SIMD registers of contiguous columns: B not transposed, no padding.
template <class T>
BPanel<T> b_panel(const GemmKernel<T>& kernel, Operand<T> b, int64_t p0, int64_t col, int cols,
                  int64_t depth, bool reused, bool first_use, T* slot) {
  const T* start = b.address(p0, col);
  const int width = gemm_detail::b_panel_width(cols, kernel.nr, kernel.lanes);
  if (!reused && !b.trans && cols == width) return {start, b.ld};
  if (first_use || !reused) kernel.pack_b(start, b.ld, b.trans, cols, width, depth, slot);
  return {slot, width};
}

// Splits `total` into ceil(total / max_block) nearly equal blocks, each a multiple of
// `unit` (except the last), so that no block is a thin, inefficient remainder
// (k = 400 with kc = 256 becomes 200 + 200 rather than 256 + 144).
int64_t balanced_block(int64_t total, int64_t max_block, int64_t unit) {
  const int64_t blocks = (total + max_block - 1) / max_block;
  const int64_t size = (total + blocks - 1) / blocks;
  return (size + unit - 1) / unit * unit;
}

// The depth of the blocks k is cut into. It depends on k and the kernel only, so a
// PackedA (packed before the product) and gemm_blocked cut A's depth the same way.
template <class T>
int64_t depth_block(const GemmKernel<T>& kernel, int64_t k) {
  return balanced_block(k, kernel.kc, 1);
}

// One thread's gemm on its own part of C: the loops of gemm_kernels.h.
template <class T>
void gemm_blocked(const GemmKernel<T>& kernel, const ASource<T>& a, Operand<T> b, int64_t m,
                  int64_t n, int64_t k, T alpha, T beta, T* c, int64_t ldc) {
  const int64_t kc = depth_block(kernel, k);
  const int64_t mc = balanced_block(m, kernel.mc, kernel.mr);
  const int64_t nc = balanced_block(n, kernel.nc, kernel.nr);
  thread_local Scratch<T> a_buffer, b_buffer;
  T* const packed_a = a_buffer.get(kc * mc);  // the A block's panels
  T* const packed_b = b_buffer.get(kc * nc);  // the B block's panels
  const bool reuse_b = m > kernel.mr;         // several A panels read each B panel
  // With a single row block a B panel is not needed after its turn: every panel can
  // use the same slot, which then stays in L1/L2 instead of growing into a block.
  const bool one_slot_for_b = m <= mc;

  for (int64_t jc = 0; jc < n; jc += nc) {
    const int64_t cols = std::min(nc, n - jc);
    const bool reuse_a = cols > kernel.nr;  // several B panels read each A panel
    for (int64_t pc = 0; pc < k; pc += kc) {
      const int64_t depth = std::min(kc, k - pc);
      // The first depth block applies beta; the later ones add onto its result.
      const T block_beta = pc == 0 ? beta : T(1);
      for (int64_t ic = 0; ic < m; ic += mc) {
        const int64_t rows = std::min(mc, m - ic);
        // Macro-kernel: every register tile of this block of C.
        for (int64_t jr = 0; jr < cols; jr += kernel.nr) {
          const int tile_cols = static_cast<int>(std::min<int64_t>(kernel.nr, cols - jr));
          const BPanel<T> b_tile =
              b_panel(kernel, b, pc, jc + jr, tile_cols, depth, reuse_b, ic == 0,
                      one_slot_for_b ? packed_b : packed_b + jr * depth);
          for (int64_t ir = 0; ir < rows; ir += kernel.mr) {
            const int tile_rows = static_cast<int>(std::min<int64_t>(kernel.mr, rows - ir));
            const APanel<T> a_tile = a_panel(kernel, a, ic + ir, pc, tile_rows, depth, reuse_a,
                                             jr == 0, packed_a + ir * depth);
            const CTile<T> c_tile{
                c + (ic + ir) * ldc + jc + jr, ldc, tile_rows, tile_cols, alpha, block_beta};
            kernel.tile(depth, a_tile, b_tile, c_tile);
          }
        }
      }
    }
  }
}

// ---- threading ------------------------------------------------------------------

// Each thread gets at least this many multiply-adds (1 MFLOP, about 5 us): starting
// and joining a parallel region costs 3-6 us, so smaller shares run slower threaded
// (measured on 2 cores: 80^3 runs 25 % slower on 2 threads, 128 x 400 x 20 30 % faster).
//
// (On machines shared with other busy programs, see parallel.h for why a part is never
// left waiting for a thread that is not running.)
constexpr int64_t min_work_per_thread = 500'000;

int threads_for(int64_t m, int64_t n, int64_t k) {
  if (in_parallel_part()) return 1;  // called from a parallel part: it already uses the cores
  const int64_t by_work = std::max<int64_t>(1, m * n * k / min_work_per_thread);
  return static_cast<int>(std::min<int64_t>(max_threads(), by_work));
}

// The threads work on a grid of rows x cols parts of C, each part packing its own
// slices of A and B (no synchronisation). Every thread packs all of A that its part
// needs (m/rows x k) and all of B (k x n/cols), so the grid that minimises
// m/rows + n/cols duplicates the least packing.
struct ThreadGrid {
  int rows, cols;
};

ThreadGrid thread_grid(int threads, int64_t m, int64_t n) {
  ThreadGrid best{threads, 1};
  double best_cost = -1;
  for (int rows = 1; rows <= threads; ++rows) {
    if (threads % rows != 0) continue;
    const int cols = threads / rows;
    const double cost = double(m) / rows + double(n) / cols;
    if (best_cost < 0 || cost < best_cost) best = {rows, cols}, best_cost = cost;
  }
  return best;
}

// Part `index` of `parts` of [0, total), cut at multiples of `unit` (a tile edge).
struct Range {
  int64_t begin, end;
};

Range part_of(int64_t total, int parts, int index, int64_t unit) {
  const int64_t units = (total + unit - 1) / unit;
  const int64_t begin = units * index / parts * unit, end = units * (index + 1) / parts * unit;
  return {std::min(begin, total), std::min(end, total)};
}

template <class T>
void gemm_threaded(const GemmKernel<T>& kernel, const ASource<T>& a, Operand<T> b, int64_t m,
                   int64_t n, int64_t k, T alpha, T beta, T* c, int64_t ldc) {
  const int threads = threads_for(m, n, k);
  if (threads == 1) return gemm_blocked(kernel, a, b, m, n, k, alpha, beta, c, ldc);
  // One part of C per thread; parallel_for lets the caller take a part that no other
  // thread has started (see parallel.h), so a busy machine costs at most one thread's speed.
  const ThreadGrid grid = thread_grid(threads, m, n);
  parallel_for(threads, [&](int t) {
    const Range rows = part_of(m, grid.rows, t / grid.cols, kernel.mr);
    const Range cols = part_of(n, grid.cols, t % grid.cols, kernel.nr);
    if (rows.begin < rows.end && cols.begin < cols.end)
      gemm_blocked(kernel, a.skip_rows(rows.begin), b.skip_cols(cols.begin), rows.end - rows.begin,
                   cols.end - cols.begin, k, alpha, beta, c + rows.begin * ldc + cols.begin, ldc);
  });
}

// The microkernel of a SIMD ISA (gemm_with has checked that the CPU runs it). Only the
// kernels of the CPU family being compiled for exist (gemm_kernels.h).
template <class T>
const GemmKernel<T>& kernel_for(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::avx512) return gemm_detail::avx512_kernel<T>();
  if (isa == Isa::avx2) return gemm_detail::avx2_kernel<T>();
#elif defined(__aarch64__)
  if (isa == Isa::neon) return gemm_detail::neon_kernel<T>();
#endif
  throw Error(std::string("gemm: no blocked kernel for ") + to_string(isa));
}

}  // namespace

template <class T>
void gemm_with(Isa isa, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
               const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (!isa_supported(isa))
    throw Error(std::string("gemm: this CPU does not support ") + to_string(isa));
  check_arguments(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  // Nothing to multiply: C = beta * C (BLAS semantics; A and B are not read).
  if (k == 0 || alpha == T(0)) return scale(m, n, beta, c, ldc);

  const Operand<T> op_a{a, lda, trans_a}, op_b{b, ldb, trans_b};
  if (isa == Isa::reference) return gemm_reference(op_a, op_b, m, n, k, alpha, beta, c, ldc);
  gemm_threaded(kernel_for<T>(isa), ASource<T>{op_a, nullptr, 0}, op_b, m, n, k, alpha, beta, c,
                ldc);
}

// Every micro-panel of op(A) as gemm_blocked would pack it: the same depth blocks (the row
// blocks mc only group the panels).
template <class T>
PackedA<T>::PackedA(bool trans_a, int64_t m, int64_t k, const T* a, int64_t lda, Isa isa)
    : isa_(isa), a_(a), lda_(lda), trans_a_(trans_a), m_(m), k_(k) {
  if (!isa_supported(isa))
    throw Error(std::string("gemm: this CPU does not support ") + to_string(isa));
  check_arguments(trans_a, false, m, 1, k, lda, 1, 1);
  if (isa_ == Isa::reference || m == 0 || k == 0) return;
  const GemmKernel<T>& kernel = kernel_for<T>(isa_);
  kc_ = depth_block(kernel, k);
  padded_rows_ = (m + kernel.mr - 1) / kernel.mr * kernel.mr;
  T* out = storage_.get(padded_rows_ * k);
  panels_ = out;
  const Operand<T> op_a{a, lda, trans_a};
  for (int64_t p0 = 0; p0 < k; p0 += kc_) {
    const int64_t depth = std::min(kc_, k - p0);
    for (int64_t row = 0; row < m; row += kernel.mr)
      kernel.pack_a(op_a.address(row, p0), lda, trans_a,
                    static_cast<int>(std::min<int64_t>(kernel.mr, m - row)), depth,
                    out + p0 * padded_rows_ + row * depth);
  }
}

template <class T>
void gemm(const PackedA<T>& a, bool trans_b, int64_t n, T alpha, const T* b, int64_t ldb, T beta,
          T* c, int64_t ldc) {
  const int64_t m = a.rows(), k = a.depth();
  check_arguments(a.trans_a(), trans_b, m, n, k, a.lda(), ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) return scale(m, n, beta, c, ldc);
  const Operand<T> op_a{a.a(), a.lda(), a.trans_a()}, op_b{b, ldb, trans_b};
  if (a.isa() == Isa::reference) return gemm_reference(op_a, op_b, m, n, k, alpha, beta, c, ldc);
  gemm_threaded(kernel_for<T>(a.isa()), ASource<T>{op_a, &a, 0}, op_b, m, n, k, alpha, beta, c,
                ldc);
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  gemm_with(active_isa(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);
template class PackedA<float>;
template class PackedA<double>;
template void gemm<float>(const PackedA<float>&, bool, int64_t, float, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(const PackedA<double>&, bool, int64_t, double, const double*, int64_t,
                           double, double*, int64_t);
template void gemm_with<float>(Isa, bool, bool, int64_t, int64_t, int64_t, float, const float*,
                               int64_t, const float*, int64_t, float, float*, int64_t);
template void gemm_with<double>(Isa, bool, bool, int64_t, int64_t, int64_t, double,
                                const double*, int64_t, const double*, int64_t, double, double*,
                                int64_t);

}  // namespace ad
