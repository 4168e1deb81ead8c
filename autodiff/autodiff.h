// The whole autodiff core in one include.
#pragma once
#include "autodiff/runtime/gemm.h"
#include "autodiff/runtime/isa.h"
#include "autodiff/runtime/parallel.h"
#include "autodiff/anomaly.h"
#include "autodiff/gradcheck.h"
#include "autodiff/ops.h"
#include "autodiff/rng.h"
#include "autodiff/tape.h"
#include "autodiff/tensor.h"
