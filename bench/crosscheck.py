#!/usr/bin/python3
"""Checks that our VAEs compute what the same models compute in PyTorch.

    /usr/bin/python3 bench/crosscheck.py [--bin build/release/bench/crosscheck]
        [--epochs 10] [--threads 1] [--own-init]

(`make crosscheck` runs it.) Prints one line per comparison with ok or FAILED and exits
with status 1 if any failed.

(a) One fixed batch. For mlp_vae and conv_vae, PyTorch initialises the model (its own
    default initialisation, torch.manual_seed(0)); the weights, converted to our layout
    (our Linear stores W as [in, out], PyTorch as [out, in]; pytorch/examples' fc21 and
    fc22 are the two halves of our encoder's last Linear), 32 training images x and a
    fixed eps [32, latent] go to files in our checkpoint format. bench/crosscheck.cpp
    computes the loss, its reconstruction and KL parts and every parameter gradient;
    PyTorch computes the same, and each tensor is compared by
        relative error = max |ours - torch| / max |torch|      (over the tensor's elements)
    which must be at most 1e-4 in float32. The same comparison in float64 (tolerance
    1e-10) shows that the float32 differences are rounding, not a different formula.

(b) Ten epochs of mlp_vae in each framework from the same initial weights (PyTorch's
    default initialisation, torch.manual_seed(0), written to a file that ours loads),
    each side with its own noise eps, in the same data order: this script draws one
    permutation of the 60000 training images per epoch (numpy, seed 2024) and writes it
    to a file that both sides read; batches of 128 in that order, the last batch of each
    epoch the 96 left over (as PyTorch's DataLoader). Then each model's negative ELBO on
    the 10000 test images, with L = 1 and one fixed eps per image (numpy, seed 7) shared
    by both sides: the two must agree within 0.5%. Each side also evaluates the other's
    trained weights, which must reproduce the other's number within 1e-4.
    The initialisation is shared because it matters at this tolerance: our own
    (Kaiming-uniform weights, zero biases, nn/init.h) ends about 0.7% higher after ten
    epochs, in both frameworks alike. --own-init adds a run of ours from its own
    initialisation and prints its test -ELBO (for information, not a check).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ folder in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_train_step as common  # noqa: E402  (the models, the data, the file format)

FAILURES = []


def verdict(what, numbers, ok):
    line = f"  {what:<46} {numbers}"
    print(f"{line:<100} {'ok' if ok else 'FAILED'}", flush=True)
    if not ok:
        FAILURES.append(what)
    return ok


def relative_error(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    scale = np.max(np.abs(theirs))
    return np.max(np.abs(ours - theirs)) / (scale if scale > 0 else 1.0)


# ---- PyTorch parameters <-> our names and layouts ----------------------------------------

def to_ours(name, model, grads=False):
    """[(our name, numpy array in our layout)] of a PyTorch model's parameters, or of
    their gradients (named "grad/<our name>") with grads=True."""
    p = dict(model.named_parameters())

    def get(key):
        return (p[key].grad if grads else p[key]).detach().numpy()

    prefix = "grad/" if grads else ""
    out = []
    if name == "mlp_vae":
        layers = [("encoder.0", ["fc1"]), ("encoder.2", ["fc21", "fc22"]),
                  ("decoder.0", ["fc3"]), ("decoder.2", ["fc4"])]
        for layer, parts in layers:  # [out, in] side by side -> [in, out]
            w = np.concatenate([get(part + ".weight") for part in parts], axis=0)
            out.append((prefix + layer + ".weight", w.T.copy()))
            out.append((prefix + layer + ".bias", np.concatenate([get(part + ".bias") for part in parts])))
    else:
        for key in p:  # conv layouts are PyTorch's already; Linear weights transpose
            v = get(key)
            out.append((prefix + key, v.T.copy() if v.ndim == 2 else v.copy()))
    return out


def load_ours_into(name, model, tensors, torch):
    """Copies our-layout tensors (name -> array) into a PyTorch model."""
    p = dict(model.named_parameters())
    with torch.no_grad():
        if name == "mlp_vae":
            k = model.latent_dim
            w, b = tensors["encoder.2.weight"].T, tensors["encoder.2.bias"]
            for key, value in [("fc1.weight", tensors["encoder.0.weight"].T),
                               ("fc1.bias", tensors["encoder.0.bias"]),
                               ("fc21.weight", w[:k]), ("fc21.bias", b[:k]),
                               ("fc22.weight", w[k:]), ("fc22.bias", b[k:]),
                               ("fc3.weight", tensors["decoder.0.weight"].T),
                               ("fc3.bias", tensors["decoder.0.bias"]),
                               ("fc4.weight", tensors["decoder.2.weight"].T),
                               ("fc4.bias", tensors["decoder.2.bias"])]:
                p[key].copy_(torch.from_numpy(np.ascontiguousarray(value)))
        else:
            for key in p:
                v = tensors[key]
                p[key].copy_(torch.from_numpy(np.ascontiguousarray(v.T if v.ndim == 2 else v)))


def run(args, threads, show_output=False):
    """Runs our side; its output goes straight to the terminal with show_output."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    sys.stdout.flush()
    result = subprocess.run(args, env=env, stdout=None if show_output else subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


# ---- (a) one batch: loss, its parts and every gradient -----------------------------------

def check_gradients(a, tmp, torch, nn, F, dtype):
    tolerance = 1e-4 if dtype == "f32" else 1e-10
    np_dtype = np.float32 if dtype == "f32" else np.float64
    images = common.load_images("train")[:32]
    for name in common.MODELS:
        torch.manual_seed(0)
        model = common.build_model(name, torch, nn)
        if dtype == "f64":
            model = model.double()
        eps = torch.randn(32, model.latent_dim, generator=torch.Generator().manual_seed(1),
                          dtype=torch.float64).to(torch.float32 if dtype == "f32" else torch.float64)
        x = torch.from_numpy(common.shaped(images, model.layout).astype(np_dtype))
        model.zero_grad()
        loss, rec, kl = common.negative_elbo(model, x, eps, torch, F)
        loss.backward()
        weights, grads = to_ours(name, model), to_ours(name, model, grads=True)
        w_file, d_file, r_file = (os.path.join(tmp, f"{name}_{dtype}_{s}.ckpt")
                                  for s in ("weights", "data", "results"))
        common.write_tensors(w_file, weights)
        common.write_tensors(d_file, [("x", x.numpy()), ("eps", eps.numpy())])
        run([a.bin, "grads", "--model", name, "--weights", w_file, "--data", d_file,
             "--out", r_file, "--dtype", dtype], a.threads)
        ours = common.read_tensors(r_file)
        print(f"\n{name}, {dtype}, one batch of 32 images (tolerance {tolerance:g} relative):")
        for key, value in [("loss", loss), ("reconstruction", rec), ("kl", kl)]:
            err = relative_error(ours[key], value.item())
            verdict(f"{key}", f"{float(ours[key]):.8g} vs {value.item():.8g}  (rel {err:.1e})",
                    err <= tolerance)
        worst = 0.0
        for key, value in grads:
            err = relative_error(ours[key], value)
            worst = max(worst, err)
            verdict(f"d loss / d {key[5:]}", f"max |torch| {np.max(np.abs(value)):.3g}, "
                    f"rel {err:.1e}", err <= tolerance)
        print(f"  worst gradient error of {name} ({dtype}): {worst:.1e}")


# ---- (b) ten epochs of mlp_vae, then the test ELBO ---------------------------------------

def torch_test_elbo(model, test_x, test_eps, torch, F):
    total, rec, kl = 0.0, 0.0, 0.0
    with torch.no_grad():
        for s in range(0, test_x.shape[0], 1000):
            l, r, k = common.negative_elbo(model, test_x[s:s + 1000], test_eps[s:s + 1000],
                                           torch, F)
            n = test_x[s:s + 1000].shape[0]
            total, rec, kl = total + l.item() * n, rec + r.item() * n, kl + k.item() * n
    n = test_x.shape[0]
    return total / n, rec / n, kl / n


def check_training(a, tmp, torch, nn, F):
    n = 60000
    rng = np.random.RandomState(2024)
    order = np.stack([rng.permutation(n) for _ in range(a.epochs)]).astype(np.float64)
    test_eps = np.random.RandomState(7).standard_normal((10000, 20)).astype(np.float32)
    order_file, eps_file = os.path.join(tmp, "order.ckpt"), os.path.join(tmp, "test_eps.ckpt")
    common.write_tensors(order_file, [("order", order)])
    common.write_tensors(eps_file, [("eps", test_eps)])

    torch.manual_seed(0)
    model = common.build_model("mlp_vae", torch, nn)  # PyTorch's initialisation, for both
    init_file = os.path.join(tmp, "init.ckpt")
    common.write_tensors(init_file, to_ours("mlp_vae", model))

    print(f"\nmlp_vae, {a.epochs} epochs from the same initial weights in the same data order, "
          f"then the test set (10000 images, L = 1, the same fixed eps):", flush=True)
    start = time.perf_counter()
    ours_file, ours_weights = os.path.join(tmp, "ours_train.ckpt"), os.path.join(tmp, "ours_w.ckpt")
    run([a.bin, "train", "--order", order_file, "--test-eps", eps_file, "--out", ours_file,
         "--weights", init_file, "--weights-out", ours_weights], a.threads, show_output=True)
    ours = common.read_tensors(ours_file)
    ours_seconds = time.perf_counter() - start

    start = time.perf_counter()
    train_x = torch.from_numpy(common.load_images("train"))
    test_x = torch.from_numpy(common.load_images("test"))
    torch.manual_seed(1)  # PyTorch's noise
    opt = torch.optim.Adam(model.parameters(), lr=common.LR)
    order_t = torch.from_numpy(order.astype(np.int64))
    for e in range(a.epochs):
        total = 0.0
        for s in range(0, n, common.BATCH):
            x = train_x[order_t[e, s:s + common.BATCH]]
            opt.zero_grad()
            loss, _, _ = common.negative_elbo(model, x, torch.randn(x.shape[0], 20), torch, F)
            loss.backward()
            opt.step()
            total += loss.item() * x.shape[0]
        print(f"  PyTorch, epoch {e + 1:2}: training loss {total / n:.3f}", flush=True)
    torch_seconds = time.perf_counter() - start
    test_eps_t = torch.from_numpy(test_eps)
    t_loss, t_rec, t_kl = torch_test_elbo(model, test_x, test_eps_t, torch, F)
    o_loss, o_rec, o_kl = (float(ours[k]) for k in ("test_loss", "test_reconstruction", "test_kl"))
    print(f"  training time: ours {ours_seconds:.0f} s, PyTorch {torch_seconds:.0f} s "
          f"({a.threads} thread{'s' if a.threads > 1 else ''})")
    print(f"  test -ELBO: ours {o_loss:.3f} (reconstruction {o_rec:.3f} + KL {o_kl:.3f}), "
          f"PyTorch {t_loss:.3f} (reconstruction {t_rec:.3f} + KL {t_kl:.3f})")
    diff = abs(o_loss - t_loss) / t_loss
    verdict("test -ELBO, ours vs PyTorch", f"{o_loss:.3f} vs {t_loss:.3f}  (rel {diff:.2%}, "
            f"tol 0.5%)", diff <= 0.005)

    # Each side evaluates the other's trained weights: the evaluation itself must agree.
    torch_weights = os.path.join(tmp, "torch_w.ckpt")
    common.write_tensors(torch_weights, to_ours("mlp_vae", model))
    cross_file = os.path.join(tmp, "cross.ckpt")
    run([a.bin, "eval", "--model", "mlp_vae", "--weights", torch_weights, "--test-eps", eps_file,
         "--out", cross_file], a.threads)
    ours_on_torch = float(common.read_tensors(cross_file)["test_loss"])
    err = abs(ours_on_torch - t_loss) / t_loss
    verdict("ours evaluating PyTorch's trained weights", f"{ours_on_torch:.4f} vs {t_loss:.4f}  "
            f"(rel {err:.1e}, tol 1e-4)", err <= 1e-4)
    other = common.build_model("mlp_vae", torch, nn)
    load_ours_into("mlp_vae", other, common.read_tensors(ours_weights), torch)
    torch_on_ours, _, _ = torch_test_elbo(other, test_x, test_eps_t, torch, F)
    err = abs(torch_on_ours - o_loss) / o_loss
    verdict("PyTorch evaluating our trained weights", f"{torch_on_ours:.4f} vs {o_loss:.4f}  "
            f"(rel {err:.1e}, tol 1e-4)", err <= 1e-4)

    if a.own_init:
        own_file = os.path.join(tmp, "ours_own_init.ckpt")
        print("\nours again from its own initialisation (nn/init.h), for information:", flush=True)
        run([a.bin, "train", "--order", order_file, "--test-eps", eps_file, "--out", own_file],
            a.threads, show_output=True)
        own = float(common.read_tensors(own_file)["test_loss"])
        print(f"  test -ELBO from our own initialisation: {own:.3f} "
              f"({(own - t_loss) / t_loss:+.2%} against PyTorch's from its own)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default="build/release/bench/crosscheck")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--own-init", action="store_true",
                        help="also train ours from its own initialisation (information only)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for both sides (default 1: steady on a shared machine)")
    a = parser.parse_args()
    try:
        if not os.access(a.bin, os.X_OK):
            raise RuntimeError(f"{a.bin} not found: build it with make {a.bin}")
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(a.threads)  # before torch is imported
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        torch.set_num_threads(a.threads)
        print(f"crosscheck: ours ({a.bin}) against PyTorch {torch.__version__}")
        with tempfile.TemporaryDirectory() as tmp:
            for dtype in ("f32", "f64"):
                check_gradients(a, tmp, torch, nn, F, dtype)
            check_training(a, tmp, torch, nn, F)
    except Exception as e:
        print(f"crosscheck: {e}", file=sys.stderr)
        return 1
    print(f"\n{len(FAILURES)} comparison(s) failed" if FAILURES else "\nall comparisons ok")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
