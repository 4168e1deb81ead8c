// Which instruction set the fast kernels use: chosen at run time, and switchable.
//
// Every fast kernel of the project (the gemm, the elementwise math, the fused optimiser
// step) exists in a plain C++ reference version and in SIMD versions for the CPU the
// project is compiled for:
//
//   x86-64   AVX2 and AVX-512 (the binaries run on any x86-64: the first call asks the
//            CPU what it supports and picks the widest, the reference without AVX2);
//   arm64    NEON (Advanced SIMD, present on every arm64 CPU: Apple Silicon, Raspberry
//            Pi 3 and later, Graviton);
//   others   the reference only.
//
// The SIMD files of the other CPUs compile to nothing, so every Isa value exists
// everywhere and isa_supported() says which ones run here. A student can switch every
// fast path off at once and check that the numbers stay the same:
//
//   AD_REFERENCE=1 build/release/tutorials/08_vae     (the whole run on the reference kernels)
//
//   { ad::ReferenceKernels plain;  ...  }             (the same for one scope, e.g. in a test)
#pragma once
#include <vector>

namespace ad {

enum class Isa { reference, avx2, avx512, neon };

const char* to_string(Isa isa);
bool isa_supported(Isa isa);        // does this CPU run it (and was it compiled in)?
Isa best_isa();                     // the widest this CPU supports
std::vector<Isa> supported_isas();  // reference first, then each SIMD path

// What the kernels use now: best_isa(), or Isa::reference when the environment variable
// AD_REFERENCE is set to anything but "0" or a ReferenceKernels object is alive.
Isa active_isa();

// While one lives (on any thread), every kernel runs its reference version.
class ReferenceKernels {
 public:
  ReferenceKernels();
  ~ReferenceKernels();
  ReferenceKernels(const ReferenceKernels&) = delete;
  ReferenceKernels& operator=(const ReferenceKernels&) = delete;
};

}  // namespace ad
