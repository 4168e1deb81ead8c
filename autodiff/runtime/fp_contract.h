// AD_NO_CONTRACT: no compiler-made FMAs in the function it marks.
//
// A kernel tested bit for bit against its reference needs every a * b + c rounded twice,
// as written; a compiler allowed to "contract" it into one fused multiply-add rounds once
// and the bits differ. GCC contracts freely once FMA is enabled (always on arm64, in the
// AVX2 and AVX-512 functions on x86), even in -std=c++20, and takes the opposite per
// function: __attribute__((..., AD_NO_CONTRACT)). Clang has no optimize attribute (it
// would only warn) and contracts within an expression by default, which on arm64 is
// enough to turn the reference Adam's `a * b + c` into an FMA; its pragma, set here, keeps
// contraction off for the whole file that includes this header.
#pragma once

#if defined(__clang__)
#pragma clang fp contract(off)
#define AD_NO_CONTRACT
#else
#define AD_NO_CONTRACT optimize("fp-contract=off")
#endif
