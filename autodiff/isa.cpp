#include "autodiff/isa.h"

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
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
  __builtin_cpu_init();  // needed if we run before libgcc's own initialisation (static init)
  switch (isa) {
    case Isa::reference:
      return true;
    // __builtin_cpu_supports also checks that the OS saves the wide registers.
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("fma");
  }
  return false;
}

Isa best_isa() {
  static const Isa best = isa_supported(Isa::avx512) ? Isa::avx512
                          : isa_supported(Isa::avx2) ? Isa::avx2
                                                     : Isa::reference;
  return best;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::reference, Isa::avx2, Isa::avx512})
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
