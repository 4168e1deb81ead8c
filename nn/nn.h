// The whole nn layer set in one include: modules, layers, losses, initialisation,
// optimisers and checkpoints, on top of the autodiff core.
//
// Example (a tiny classifier, trained for one step):
//
//   #include "nn/nn.h"
//
//   ad::Rng rng(42);
//   nn::Sequential mlp;
//   mlp.add<nn::Linear>(2, 16, rng);
//   mlp.add<nn::ReLU>();
//   mlp.add<nn::Linear>(16, 2, rng);
//   nn::Adam adam(mlp.named_parameters(), {.lr = 1e-2});
//
//   adam.zero_grad();
//   ad::Tensor loss = nn::cross_entropy(mlp(x), labels, nn::Reduction::mean);
//   ad::backward(loss);
//   adam.step();
//   nn::save_checkpoint("out/mlp.ckpt", mlp, adam);
#pragma once
#include "autodiff/autodiff.h"
#include "nn/checkpoint.h"
#include "nn/conv.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/module.h"
#include "nn/optim.h"
