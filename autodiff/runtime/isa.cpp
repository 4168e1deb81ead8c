#include "autodiff/runtime/isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ad {

const char* to_string(Isa isa) {
  switch (isa) {
    case Isa::reference:
      return "reference";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
    case Isa::neon:
      return "neon";
  }
  return "unknown";
}

namespace {

// The x86 kernels are compiled only for x86-64 (gemm_avx2.cpp, ...), the NEON ones only
// for arm64, so an ISA of the other family is never supported.
#if defined(__x86_64__)

// __builtin_cpu_supports also checks that the OS saves the wide registers.
bool cpu_has_avx2() {
  __builtin_cpu_init();  // needed if we run before libgcc's own initialisation (static init)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("fma");
}

#else

bool cpu_has_avx2() { return false; }
bool cpu_has_avx512() { return false; }

#endif

// Advanced SIMD is part of the arm64 architecture: every arm64 CPU has it.
#if defined(__aarch64__)
bool cpu_has_neon() { return true; }
#else
bool cpu_has_neon() { return false; }
#endif

}  // namespace

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::reference:
      return true;
    case Isa::avx2:
      return cpu_has_avx2();
    case Isa::avx512:
      return cpu_has_avx512();
    case Isa::neon:
      return cpu_has_neon();
  }
  return false;
}

Isa best_isa() {
  static const Isa best = [] {
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::neon})  // widest first
      if (isa_supported(isa)) return isa;
    return Isa::reference;
  }();
  return best;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::reference, Isa::avx2, Isa::avx512, Isa::neon})
    if (isa_supported(isa)) isas.push_back(isa);
  return isas;
}

namespace {

std::atomic<int> g_reference_scopes{0};

bool reference_requested_by_environment() {
  static const bool requested = [] {
    const char* value = std::getenv("AD_REFERENCE");
    return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
  }();
  return requested;
}

}  // namespace

Isa active_isa() {
  if (g_reference_scopes.load(std::memory_order_relaxed) > 0 ||
      reference_requested_by_environment())
    return Isa::reference;
  return best_isa();
}

ReferenceKernels::ReferenceKernels() { ++g_reference_scopes; }
ReferenceKernels::~ReferenceKernels() { --g_reference_scopes; }

}  // namespace ad
