#!/usr/bin/python3
"""The training step of bench/train_step.cpp in PyTorch, measured interleaved with ours.

    /usr/bin/python3 bench/torch_train_step.py [--ours build/release/bench/train_step]
        [--out out/bench] [--models mlp_vae,conv_vae] [--threads 1,2] [--steps 200]
        [--warmup 20] [--no-rss] [--loaded] [--max-seconds 600]

(`make bench-torch` runs it with the defaults.) The same two models, data, batch size,
optimiser and timing protocol as train_step.cpp:

  mlp_vae   the VAE of pytorch/examples (vae/main.py): fc1 784->400, fc21 and fc22
            400->20 (mu, logvar), fc3 20->400, fc4 400->784 logits
  conv_vae  the Keras VAE demo in PyTorch's layer forms (as vae/conv_vae.h), latent 2

float32, batch 128, Adam lr 1e-3, Fashion-MNIST training images as grey intensities in
[0, 1] (read from the IDX .gz files and kept as their bytes, as train_step.cpp does, each
batch converted to floats when it is drawn), -ELBO = BCE on logits summed over pixels +
analytic KL, averaged over the batch, L = 1. pytorch/examples sums its loss over the
batch instead of averaging it and applies a sigmoid before F.binary_cross_entropy; Adam
is invariant to the constant factor (up to its eps), and BCE on logits is the same
function computed stably, so this is the same training.

A step = zero_grad + forward (which draws eps) + backward + Adam step, timed one by one
after the warm-up steps (a PyTorch measurement stops after --max-seconds, with at least
10 steps timed, and says so: under load PyTorch's 2 threads can take seconds per step);
median, p10 and p90 (numpy.percentile, linear interpolation, as train_step.cpp) and
examples/s = 128 / median. Each thread setting runs in its own
process with OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS set to n before
torch is imported, and torch.set_num_threads(n). Peak RSS: ru_maxrss of a process that
trains one epoch on 1 thread.

Order, per model: ours 1 thread, PyTorch 1 thread, ours 2 threads, PyTorch 2 threads
(then the one-epoch memory runs), so slow drifts of a shared machine hit both alike.
Ours is build/release/bench/train_step run for one configuration at a time. Then
DIR/train_step.csv is rewritten with this run's rows, ours first and PyTorch's (impl
"pytorch") appended, and a side-by-side table and the ratios are printed.
--loaded repeats the whole sequence while two busy-looping processes compete for the
cores and writes DIR/train_step_loaded.csv the same way.

Against the hardware: train_step.cpp counts the step's flops from the model's layer
shapes and measures the FMA peak of one core (bench/peak.h); its CSV row carries both.
PyTorch's steps do the same products, so the same count over PyTorch's median gives its
fraction of the peak of the cores used, printed beside ours.

This file also holds what bench/crosscheck.py shares: the IDX reader, the checkpoint
format of nn/checkpoint.h, the two models and their -ELBO.
"""
import argparse
import csv
import gzip
import io
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
BATCH = 128
LR = 1e-3
MODELS = ["mlp_vae", "conv_vae"]
COLUMNS = ["model", "impl", "threads", "median_ms", "p10_ms", "p90_ms", "examples_per_s",
           "peak_rss_mb", "gflop_per_step", "peak_gflops", "fraction_of_peak"]


# ---- data: the IDX files, as nn/idx.h reads them ---------------------------------------

def read_idx(path):
    """An IDX file (gzip-compressed) as a numpy array of its unsigned bytes."""
    with gzip.open(path, "rb") as f:
        zero, dtype, rank = struct.unpack(">HBB", f.read(4))
        if zero != 0 or dtype != 0x08:
            raise ValueError(f"{path}: not an IDX file of unsigned bytes")
        dims = struct.unpack(">" + "I" * rank, f.read(4 * rank))
        values = np.empty(dims, dtype=np.uint8)  # read straight into it: no second copy
        view, filled = memoryview(values.reshape(-1)), 0
        while filled < values.size:
            n = f.readinto(view[filled:])
            if not n:
                raise ValueError(f"{path}: {filled} values for dimensions {dims}")
            filled += n
    return values


def load_images(split="train"):
    """[N, 784] float32 in [0, 1]: byte / 255 in float32, as nn::load_fashion_mnist."""
    return to_intensities(load_bytes(split))


def load_bytes(split="train"):
    """[N, 784] uint8: the files' bytes (what train_step.cpp keeps, nn::PixelStorage::bytes)."""
    prefix = "train" if split == "train" else "t10k"
    raw = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    return raw.reshape(raw.shape[0], -1)


def to_intensities(pixels):
    """uint8 pixels (numpy array or torch tensor) -> float32 byte / 255."""
    if isinstance(pixels, np.ndarray):
        return pixels.astype(np.float32) / np.float32(255)
    return pixels.float() / 255


# ---- our checkpoint format (nn/checkpoint.h), version 1 ---------------------------------

def write_tensors(path, tensors):
    """tensors: a list of (name, numpy array of float32 or float64)."""
    out = io.BytesIO()
    out.write(b"ADNNCKPT")
    out.write(struct.pack("<II", 1, len(tensors)))
    for name, array in tensors:
        array = np.ascontiguousarray(array)
        if array.dtype not in (np.float32, np.float64) or array.ndim > 4:
            raise ValueError(f"{name}: only float32/float64 tensors of rank 0 to 4")
        encoded = name.encode()
        out.write(struct.pack("<I", len(encoded)) + encoded)
        out.write(struct.pack("<BB", 0 if array.dtype == np.float32 else 1, array.ndim))
        out.write(struct.pack("<" + "q" * array.ndim, *array.shape))
        out.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    body = out.getvalue()
    with open(path, "wb") as f:
        f.write(body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF))


def read_tensors(path):
    """The file's tensors as a dict name -> numpy array, in file order; checks the CRC."""
    with open(path, "rb") as f:
        data = f.read()
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    if body[:8] != b"ADNNCKPT" or (zlib.crc32(body) & 0xFFFFFFFF) != crc:
        raise ValueError(f"{path}: not a checkpoint, or damaged")
    version, count = struct.unpack_from("<II", body, 8)
    if version != 1:
        raise ValueError(f"{path}: version {version}")
    pos, tensors = 16, {}
    for _ in range(count):
        (length,) = struct.unpack_from("<I", body, pos)
        name = body[pos + 4:pos + 4 + length].decode()
        pos += 4 + length
        dtype_code, rank = struct.unpack_from("<BB", body, pos)
        pos += 2
        dims = struct.unpack_from("<" + "q" * rank, body, pos)
        pos += 8 * rank
        dtype = np.dtype("<f4") if dtype_code == 0 else np.dtype("<f8")
        n = int(np.prod(dims)) if rank else 1
        tensors[name] = np.frombuffer(body, dtype=dtype, count=n, offset=pos).reshape(dims).copy()
        pos += n * dtype.itemsize
    return tensors


# ---- the models (imported lazily: the driver itself never loads torch) ------------------

def build_model(name, torch, nn, latent=None):
    """mlp_vae with pytorch/examples' layer names, conv_vae with ours (encoder.0, ...)."""

    class MlpVae(nn.Module):
        layout = "flat"

        def __init__(self, latent_dim=20):
            super().__init__()
            self.latent_dim = latent_dim
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, latent_dim)
            self.fc22 = nn.Linear(400, latent_dim)
            self.fc3 = nn.Linear(latent_dim, 400)
            self.fc4 = nn.Linear(400, 784)

        def encode(self, x):
            h1 = torch.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def decode(self, z):  # logits
            return self.fc4(torch.relu(self.fc3(z)))

    class ConvVae(nn.Module):
        layout = "nchw"

        def __init__(self, latent_dim=2):
            super().__init__()
            self.latent_dim = latent_dim
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(), nn.Linear(3136, 16), nn.ReLU(), nn.Linear(16, 2 * latent_dim))
            self.decoder = nn.Sequential(
                nn.Linear(latent_dim, 3136), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1))

        def encode(self, x):
            h = self.encoder(x)
            return h[:, :self.latent_dim], h[:, self.latent_dim:]

        def decode(self, z):  # logits [N, 1, 28, 28]
            return self.decoder(z)

    if name == "mlp_vae":
        return MlpVae(latent or 20)
    if name == "conv_vae":
        return ConvVae(latent or 2)
    raise ValueError(f"unknown model {name}")


def negative_elbo(model, x, eps, torch, F):
    """(loss, reconstruction, kl), each the batch mean of per-example sums, L = 1."""
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decode(z)
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / batch
    kl = 0.5 * torch.sum(torch.exp(logvar) + mu * mu - 1 - logvar) / batch
    return reconstruction + kl, reconstruction, kl


def shaped(images, layout):
    return images.reshape(-1, 1, 28, 28) if layout == "nchw" else images


def blas_library():
    """The BLAS shared library this process loaded (for the report)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if os.path.basename(path).startswith(("libblas", "libopenblas", "libmkl")):
                    return os.path.realpath(path)
    except OSError:
        pass
    return "?"


# ---- the worker processes ---------------------------------------------------------------

def import_torch(threads):
    import torch  # the environment was set by the parent, before this import
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    return torch, nn, F


def worker_steps(name, threads, steps, warmup, max_seconds):
    """Times the steps; prints one line: steps,NAME,THREADS,MEDIAN,P10,P90,LOSS,BLAS,TIMED.
    Stops early (TIMED < steps) once max_seconds have passed with 10 steps timed."""
    torch, nn, F = import_torch(threads)
    torch.manual_seed(42)
    images = torch.from_numpy(load_bytes("train"))  # floats made per batch, untimed
    model = build_model(name, torch, nn)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(1)
    order, pos = torch.randperm(images.shape[0], generator=g), 0
    times, loss, began = [], float("nan"), time.perf_counter()
    for i in range(warmup + steps):
        if len(times) >= 10 and time.perf_counter() - began > max_seconds:
            break
        if pos + BATCH > images.shape[0]:  # full batches only, as train_step.cpp
            order, pos = torch.randperm(images.shape[0], generator=g), 0
        x = shaped(to_intensities(images[order[pos:pos + BATCH]]), model.layout)
        pos += BATCH
        start = time.perf_counter()
        opt.zero_grad()
        eps = torch.randn(x.shape[0], model.latent_dim)
        total, _, _ = negative_elbo(model, x, eps, torch, F)
        total.backward()
        opt.step()
        loss = total.item()
        end = time.perf_counter()
        if i >= warmup:
            times.append((end - start) * 1e3)
    if not np.isfinite(loss):
        raise RuntimeError(f"{name} diverged (loss {loss})")
    p10, median, p90 = np.percentile(times, [10, 50, 90])
    print(f"steps,{name},{threads},{median:.4f},{p10:.4f},{p90:.4f},{loss:.3f},{blas_library()},"
          f"{len(times)}")


def worker_epoch_rss(name):
    """One epoch on 1 thread; prints: epoch_rss,NAME,MB,SECONDS."""
    start = time.perf_counter()
    torch, nn, F = import_torch(1)
    torch.manual_seed(42)
    images = torch.from_numpy(load_bytes("train"))  # as train_step.cpp: bytes, floats per batch
    model = build_model(name, torch, nn)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(1))
    for pos in range(0, images.shape[0], BATCH):
        x = shaped(to_intensities(images[order[pos:pos + BATCH]]), model.layout)
        opt.zero_grad()
        eps = torch.randn(x.shape[0], model.latent_dim)
        total, _, _ = negative_elbo(model, x, eps, torch, F)
        total.backward()
        opt.step()
    mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"epoch_rss,{name},{mb:.1f},{time.perf_counter() - start:.2f}")


# ---- the driver -------------------------------------------------------------------------

def thread_env(threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def run_child(args, env=None):
    result = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"{' '.join(args)} failed (status {result.returncode}): {last}")
    return result.stdout


def torch_steps(name, threads, a):
    out = run_child([sys.executable, os.path.abspath(__file__), "--worker-steps", name,
                     str(threads), str(a.steps), str(a.warmup), str(a.max_seconds)],
                    env=thread_env(threads))
    line = [l for l in out.splitlines() if l.startswith("steps,")][-1].split(",")
    median, p10, p90 = (float(v) for v in line[3:6])
    if int(line[8]) < a.steps:
        print(f"  (PyTorch {name} on {threads} thread(s): only {line[8]} steps timed, "
              f"stopped by --max-seconds {a.max_seconds:g})")
    return {"model": name, "impl": "pytorch", "threads": threads, "median_ms": median,
            "p10_ms": p10, "p90_ms": p90, "examples_per_s": BATCH / (median * 1e-3),
            "peak_rss_mb": None}, line[7]


def torch_rss(name):
    out = run_child([sys.executable, os.path.abspath(__file__), "--worker-epoch-rss", name],
                    env=thread_env(1))
    line = [l for l in out.splitlines() if l.startswith("epoch_rss,")][-1].split(",")
    return float(line[2]), float(line[3])


def ours_steps(name, threads, a, with_rss):
    with tempfile.TemporaryDirectory() as tmp:
        args = [a.ours, "--models", name, "--threads", str(threads), "--steps", str(a.steps),
                "--warmup", str(a.warmup), "--out", tmp]
        if not with_rss:
            args.append("--no-rss")
        out = run_child(args)
        with open(os.path.join(tmp, "train_step.csv")) as f:
            row = next(csv.DictReader(f))
    for key in ("median_ms", "p10_ms", "p90_ms", "examples_per_s", "gflop_per_step",
                "peak_gflops", "fraction_of_peak"):
        row[key] = float(row[key])
    row["threads"] = int(row["threads"])
    row["peak_rss_mb"] = float(row["peak_rss_mb"]) if row["peak_rss_mb"] else None
    epoch = [l for l in out.splitlines() if "one epoch of" in l]
    return row, (epoch[0].strip() if epoch else "")


def with_work_of(row, ours):
    """PyTorch's row gets our count of the step's flops and the peak, and its fraction."""
    row["gflop_per_step"], row["peak_gflops"] = ours["gflop_per_step"], ours["peak_gflops"]
    row["fraction_of_peak"] = row["gflop_per_step"] / (row["median_ms"] * 1e-3) / row["peak_gflops"]


def measure_all(a, rss):
    """The interleaved sequence; rss: model -> (ours MB, torch MB) to reuse, or None."""
    rows, measured_rss, blas = [], {}, "?"
    for name in a.models:
        got = {}
        for threads in a.threads:
            with_rss = rss is None and not a.no_rss and threads == a.threads[0]
            row, note = ours_steps(name, threads, a, with_rss)
            got[("ours", threads)] = row
            print(f"  {name} ours    {threads} thread(s): {row['median_ms']:8.2f} ms"
                  + (f"   ({note})" if note else ""), flush=True)
            row, blas = torch_steps(name, threads, a)
            with_work_of(row, got[("ours", threads)])
            got[("pytorch", threads)] = row
            print(f"  {name} pytorch {threads} thread(s): {row['median_ms']:8.2f} ms", flush=True)
        if rss is not None:
            ours_mb, torch_mb = rss.get(name, (None, None))
        elif a.no_rss:
            ours_mb, torch_mb = None, None
        else:
            ours_mb = got[("ours", a.threads[0])]["peak_rss_mb"]
            torch_mb, seconds = torch_rss(name)
            print(f"  one epoch of {name} in PyTorch on 1 thread: {seconds:.1f} s, "
                  f"peak RSS {torch_mb:.0f} MB", flush=True)
        measured_rss[name] = (ours_mb, torch_mb)
        for (impl, threads), row in got.items():
            row["peak_rss_mb"] = ours_mb if impl == "ours" else torch_mb
        rows += [got[("ours", t)] for t in a.threads]
        rows += [got[("pytorch", t)] for t in a.threads]
    return rows, measured_rss, blas


def fmt_rss(mb):
    return "" if mb is None else f"{mb:.1f}"


def write_csv(path, rows):
    rows = sorted(rows, key=lambda r: r["impl"] != "ours")  # ours first, PyTorch appended
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([r["model"], r["impl"], r["threads"], f"{r['median_ms']:.4f}",
                        f"{r['p10_ms']:.4f}", f"{r['p90_ms']:.4f}",
                        f"{r['examples_per_s']:.1f}", fmt_rss(r["peak_rss_mb"]),
                        f"{r['gflop_per_step']:.4f}", f"{r['peak_gflops']:.1f}",
                        f"{r['fraction_of_peak']:.4f}"])
    os.replace(tmp, path)
    print(f"wrote {path}")


def report(title, rows, models, threads):
    by = {(r["model"], r["impl"], r["threads"]): r for r in rows}
    print(f"\n{title}")
    print(f"{'model':<9} {'threads':>7} | {'ours ms':>8} {'p10-p90':>13} | {'torch ms':>8} "
          f"{'p10-p90':>13} | {'ours ex/s':>9} {'torch ex/s':>10} | {'ours/torch':>10} | "
          f"{'ours %pk':>8} {'torch %pk':>9}")
    for m in models:
        for t in threads:
            o, p = by[(m, "ours", t)], by[(m, "pytorch", t)]
            print(f"{m:<9} {t:>7} | {o['median_ms']:8.2f} {o['p10_ms']:6.2f}-{o['p90_ms']:<6.2f} | "
                  f"{p['median_ms']:8.2f} {p['p10_ms']:6.2f}-{p['p90_ms']:<6.2f} | "
                  f"{o['examples_per_s']:9.0f} {p['examples_per_s']:10.0f} | "
                  f"{o['examples_per_s'] / p['examples_per_s']:9.2f}x | "
                  f"{100 * o['fraction_of_peak']:7.1f}% {100 * p['fraction_of_peak']:8.1f}%")
    work = ", ".join(f"{m} {by[(m, 'ours', threads[0])]['gflop_per_step']:.3f}" for m in models)
    core_peak = rows[0]["peak_gflops"] / rows[0]["threads"]
    print(f"%pk: the step's GFLOP ({work}; 3 x the forward gemms, counted by train_step) over "
          f"the median time, as a fraction of the FMA peak of the cores used "
          f"({core_peak:.1f} GFLOP/s a core)")
    print("ratios > 1: ours is faster. Per model, best thread setting of each:")
    for m in models:
        o = max((by[(m, "ours", t)] for t in threads), key=lambda r: r["examples_per_s"])
        p = max((by[(m, "pytorch", t)] for t in threads), key=lambda r: r["examples_per_s"])
        line = (f"  {m}: ours {o['examples_per_s']:.0f} ex/s ({o['threads']} thr) / PyTorch "
                f"{p['examples_per_s']:.0f} ex/s ({p['threads']} thr) = "
                f"{o['examples_per_s'] / p['examples_per_s']:.2f}x")
        if o["peak_rss_mb"] and p["peak_rss_mb"]:
            line += (f"; peak RSS of one epoch: ours {o['peak_rss_mb']:.0f} MB / PyTorch "
                     f"{p['peak_rss_mb']:.0f} MB = {o['peak_rss_mb'] / p['peak_rss_mb']:.2f}x")
        print(line)


def die_with_parent():
    """In a child: get SIGKILL when the parent exits (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)


class BusyLoops:
    """Two processes that only spin, for the duration of a with-block."""

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                       preexec_fn=die_with_parent) for _ in range(2)]
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ours", default="build/release/bench/train_step")
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--loaded", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=600,
                        help="stop a PyTorch measurement after this long (at least 10 steps)")
    parser.add_argument("--worker-steps", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--worker-epoch-rss", help=argparse.SUPPRESS)
    a = parser.parse_args()  # a bad flag: usage and exit status 2
    try:
        if a.worker_steps:
            name, threads, steps, warmup, max_seconds = a.worker_steps
            return worker_steps(name, int(threads), int(steps), int(warmup), float(max_seconds))
        if a.worker_epoch_rss:
            return worker_epoch_rss(a.worker_epoch_rss)
        a.models = a.models.split(",")
        a.threads = [int(t) for t in a.threads.split(",")]
        if any(m not in MODELS for m in a.models) or a.steps < 1 or a.warmup < 0:
            parser.print_usage(sys.stderr)
            print(f"models must be among {MODELS}, steps >= 1, warmup >= 0", file=sys.stderr)
            return 2
        if not os.access(a.ours, os.X_OK):
            raise RuntimeError(f"{a.ours} not found: build it with make {a.ours}")
        print(f"torch_train_step: float32, batch {BATCH}, Adam lr {LR}, {a.steps} timed steps "
              f"after {a.warmup} warm-up; ours = {a.ours}", flush=True)
        rows, rss, blas = measure_all(a, None)
        print(f"PyTorch's BLAS: {blas}")
        report("idle machine:", rows, a.models, a.threads)
        write_csv(os.path.join(a.out, "train_step.csv"), rows)
        if a.loaded:
            print("\nagain, with two busy-looping processes competing for the cores:", flush=True)
            with BusyLoops():
                loaded_rows, _, _ = measure_all(a, rss)
            report("with two busy-looping processes:", loaded_rows, a.models, a.threads)
            write_csv(os.path.join(a.out, "train_step_loaded.csv"), loaded_rows)
        return 0
    except Exception as e:  # one line, exit status 1
        print(f"torch_train_step: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
