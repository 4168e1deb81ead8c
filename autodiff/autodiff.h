// The whole autodiff core in one include.
#pragma once
#include "autodiff/gemm.h"
#include "autodiff/isa.h"
#include "autodiff/parallel.h"
#include "autodiff/anomaly.h"
#include "autodiff/gradcheck.h"
#include "autodiff/ops.h"
#include "autodiff/rng.h"
#include "autodiff/tape.h"
#include "autodiff/tensor.h"
