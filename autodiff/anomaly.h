// Anomaly mode: find the op where a NaN or an infinity first appeared.
//
// A NaN spreads: once one value is NaN, every value computed from it is too, and the
// loss printed at the end of an epoch says only that something went wrong somewhere.
// In anomaly mode every op's output is checked as it is computed, and in backward every
// entry's input gradients as they are returned. The first NaN or inf stops the program
// with an ad::AnomalyError naming the op, its tape entry and its inputs, e.g.
//
//   anomaly mode: the forward pass of `v9 = exp(v8)` gave inf (1 of 2 values, the first
//   at index 1); its inputs: v8 [2x1] finite, from 0.1 to 120
//
// (in backward: "the backward of `v7 = log(v6)` gave inf in the gradient of v6 ..."),
// much as PyTorch's torch.autograd.set_detect_anomaly does.
//
// It is off by default, and then costs one well-predicted branch per op. Turn it on
// for a scope with the guard, or for a whole run with the environment variable:
//
//   { ad::AnomalyMode detect;  loss = model.loss(x);  ad::backward(loss); }
//   AD_ANOMALY=1 build/release/tutorials/08_vae --quick
//
// Checking reads every value of every op once more, so a step takes longer: use it to
// find a NaN, not for whole trainings. docs/anomaly_mode.md shows it on a VAE.
#pragma once
#include <atomic>
#include <string>
#include <vector>

#include "autodiff/tape.h"

namespace ad {

class AnomalyError : public Error {
 public:
  using Error::Error;
};

// While an AnomalyMode object lives, anomaly mode is on (for every thread, as in PyTorch).
class AnomalyMode {
 public:
  AnomalyMode();
  ~AnomalyMode();
  AnomalyMode(const AnomalyMode&) = delete;
  AnomalyMode& operator=(const AnomalyMode&) = delete;

 private:
  bool previous_;
};

namespace anomaly_detail {
extern std::atomic<bool> enabled;  // starts as AD_ANOMALY=1 in the environment says
extern thread_local bool checking;  // inside a check: the ops it runs are not checked again
}  // namespace anomaly_detail

bool anomaly_mode_enabled();

// For the tape (tape.cpp): whether this op should go through the checked paths below.
// When anomaly mode is off this is one relaxed load and one predictable branch.
inline bool anomaly_checks_active() {
  return anomaly_detail::enabled.load(std::memory_order_relaxed) && !anomaly_detail::checking;
}

// Tape::record, then the check of the op's output.
void record_checked(Tape& tape, std::string op, const std::vector<Tensor>& inputs,
                    const Tensor& output, BackwardFn backward, std::string attrs);
// entry.backward(grad_output), then the check of the gradients it returned.
Grads backward_checked(const Tape& tape, const Entry& entry, const Tensor& grad_output);

}  // namespace ad
