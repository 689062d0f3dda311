#!/usr/bin/env python3
"""torch_train_parity.py: the paper's dense training recipe in PyTorch, the
reference that `sparse24 train` (phase 1, dense) is compared against for
accuracy parity. It writes the same per-epoch CSV as sparse24's trainer.

Recipe (docs/training.md):
  data      CIFAR-10 binary files in --data (data_batch_1..5.bin, test_batch.bin;
            records of 1 label byte + 3072 bytes, R, G, B planes, row-major),
            loaded once to the GPU as uint8
  shuffle   a fresh random permutation every epoch; the last partial batch is
            kept (as a DataLoader with shuffle=True, drop_last=False: 196 steps
            per epoch at batch 256, the last one of 80 images)
  augment   on the GPU, per image: RandomCrop(32, padding=4) with zero padding
            of the raw uint8 image (the padded pixel is 0 before normalisation,
            as torchvision pads the PIL image), then RandomHorizontalFlip(0.5),
            then ToTensor (/255) and Normalize(mean (0.4914, 0.4822, 0.4465),
            std (0.2023, 0.1994, 0.2010))
  model     torchvision's, built as sparse24's engine builds it (docs/engine.md),
            initialised after torch.manual_seed(seed); channels_last
  optimiser SGD(momentum from the schedule, weight_decay 5e-4 on every parameter)
  schedule  OneCycleLR(max_lr 0.1, epochs E, steps_per_epoch ceil(n/batch),
            div_factor 1e5, pct_start 1/E, final_div_factor 1e4, anneal 'cos',
            cycle_momentum, base 0.85, max 0.95), stepped once per batch
  eval      after every epoch, eval mode, batch 500, on the whole test set

The shuffling and the crop/flip draws come from one torch.Generator (CPU)
seeded with seed XOR 0x5eed0da7a (the constant sparse24 uses for its data
stream); the streams differ from sparse24's, so the two engines see
different (equally distributed) batches: parity is statistical, over seeds.

Precision: --precision fp32 (default) runs without autocast, with TF32
allowed for convolutions and matmuls (--tf32 off for strict fp32), which is
the math sparse24's CUDA engine uses by default; --precision bf16 runs the
forward and the loss under torch.autocast('cuda', dtype=torch.bfloat16).

CSV (rewritten at the start, one row appended and flushed after each epoch,
so a run that is stopped keeps the epochs it finished), sparse24's columns:
  phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds
phase is 1; lr the learning rate of the epoch's last step; train_* the means
over the epoch's batches as trained; accuracies in percent; seconds the wall
time of the epoch's training plus evaluation.

--max-seconds N: the run stops cleanly (between epochs when the next epoch
would not fit, else at the next batch, abandoning that epoch) once N seconds
have passed since the script started; it says so and exits with status 3.
Exit status: 0 done, 1 error or divergence, 2 bad usage, 3 stopped by
--max-seconds.

usage: torch_train_parity.py --model resnet18|efficientnet_b0 --data DIR
           [--epochs 40] [--seed 1] [--batch 256] [--precision fp32|bf16]
           [--csv OUT.csv] [--max-seconds N]
"""
import argparse
import contextlib
import math
import os
import subprocess
import sys
import time
import warnings

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
HEADER = "phase,epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds"
DATA_SEED_XOR = 0x5EED0DA7A
RECORD = 1 + 3 * 32 * 32


def log(msg):
    print(msg, flush=True)


def build_model(arch, num_classes=10):
    """torchvision's model, built as sparse24's engine builds it."""
    if arch == "resnet18":
        m = torchvision.models.resnet18(num_classes=num_classes, zero_init_residual=True)
        m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
        m.maxpool = nn.Identity()
        return m
    if arch == "efficientnet_b0":
        return torchvision.models.efficientnet_b0(num_classes=num_classes, dropout=0.2,
                                                  stochastic_depth_prob=0.2)
    raise ValueError(arch)


def read_bin(path):
    """(images uint8 (n, 3, 32, 32), labels int64 (n,)) from one CIFAR-10 binary file."""
    if not os.path.isfile(path):
        raise SystemExit(f"torch_train_parity: {path}: missing (expected the CIFAR-10 binary files)")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise SystemExit(f"torch_train_parity: {path}: {raw.size} bytes, not a positive multiple "
                         f"of {RECORD}")
    rec = raw.reshape(-1, RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise SystemExit(f"torch_train_parity: {path}: label {labels.max()} above 9")
    return np.ascontiguousarray(rec[:, 1:]).reshape(-1, 3, 32, 32), labels


def load_cifar(d, dev, limit_train=0, limit_test=0):
    parts = [read_bin(os.path.join(d, f"data_batch_{i}.bin")) for i in range(1, 6)]
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    xte, yte = read_bin(os.path.join(d, "test_batch.bin"))
    if limit_train:
        xtr, ytr = xtr[:limit_train], ytr[:limit_train]
    if limit_test:
        xte, yte = xte[:limit_test], yte[:limit_test]
    xtr = torch.from_numpy(xtr).to(dev)
    # the training images padded once by 4 zero pixels on each side (raw uint8)
    pad = torch.zeros((xtr.shape[0], 3, 40, 40), dtype=torch.uint8, device=dev)
    pad[:, :, 4:36, 4:36] = xtr
    del xtr
    return (pad, torch.from_numpy(ytr).to(dev), torch.from_numpy(xte).to(dev),
            torch.from_numpy(yte).to(dev))


class Normalise:
    def __init__(self, dev):
        self.mean = torch.tensor(MEAN, device=dev).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=dev).view(1, 3, 1, 1)

    def __call__(self, x_u8):
        x = x_u8.float().div_(255.0).sub_(self.mean).div_(self.std)
        return x.contiguous(memory_format=torch.channels_last)


def augment_batch(pad, idx, dy, dx, flip, ar32, ch3):
    """Crops (dy, dx in 0..8) of the padded uint8 images idx, mirrored where flip."""
    rows = dy[:, None] + ar32[None, :]                              # (B, 32)
    cols = torch.where(flip[:, None], dx[:, None] + 31 - ar32[None, :],
                       dx[:, None] + ar32[None, :])                 # (B, 32)
    return pad[idx[:, None, None, None], ch3[None, :, None, None],
               rows[:, None, :, None], cols[:, None, None, :]]      # (B, 3, 32, 32)


def versions():
    out = [f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
           f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"]
    if torch.cuda.is_available():
        out.append(f"GPU {torch.cuda.get_device_name(0)}")
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        if r.returncode == 0 and r.stdout.strip():
            out.append(f"driver {r.stdout.strip().splitlines()[0]}")
    except (OSError, subprocess.SubprocessError):
        pass
    return ", ".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, choices=["resnet18", "efficientnet_b0"])
    ap.add_argument("--data", required=True, help="folder of the CIFAR-10 binary files")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--tf32", choices=["on", "off"], default="on",
                    help="TF32 for fp32 convolutions and matmuls (default on)")
    ap.add_argument("--csv", help="per-epoch CSV (sparse24's train.csv columns)")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop cleanly after this many seconds since start (0: no limit)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (off by default)")
    ap.add_argument("--eval-batch", type=int, default=500)
    ap.add_argument("--limit-train", type=int, default=0, help="only the first N training images")
    ap.add_argument("--limit-test", type=int, default=0, help="only the first N test images")
    a = ap.parse_args()
    if a.epochs < 1 or a.batch < 1 or a.eval_batch < 1 or a.seed < 0:
        ap.error("--epochs, --batch and --eval-batch must be >= 1, --seed >= 0")
    if not torch.cuda.is_available():
        print("torch_train_parity: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    dev = torch.device("cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
    torch.backends.cudnn.benchmark = True

    log(f"# {versions()}")
    t = time.perf_counter()
    pad, ytr, xte_u8, yte = load_cifar(a.data, dev, a.limit_train, a.limit_test)
    norm = Normalise(dev)
    xte = norm(xte_u8)
    del xte_u8
    n, n_test = pad.shape[0], xte.shape[0]
    steps = math.ceil(n / a.batch)
    total = a.epochs * steps
    log(f"# data {a.data}: {n} train, {n_test} test images on the GPU "
        f"({time.perf_counter() - t:.1f} s)")

    torch.manual_seed(a.seed)
    model = build_model(a.model).to(dev, memory_format=torch.channels_last)
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.1, epochs=a.epochs, steps_per_epoch=steps, div_factor=1e5,
        pct_start=1.0 / a.epochs, final_div_factor=1e4, anneal_strategy="cos",
        cycle_momentum=True, base_momentum=0.85, max_momentum=0.95)
    fwd = torch.compile(model) if a.compile else model
    if a.precision == "bf16":
        def amp():
            return torch.autocast("cuda", dtype=torch.bfloat16)
    else:
        amp = contextlib.nullcontext
    log(f"# {a.model} ({nparams} parameters), seed {a.seed}, {a.epochs} epochs x {steps} steps, "
        f"batch {a.batch}, {a.precision}{' + TF32' if a.precision == 'fp32' and a.tf32 == 'on' else ''}"
        f"{', compiled' if a.compile else ''}, channels_last, cudnn.benchmark"
        f"{f', max {a.max_seconds:.0f} s' if a.max_seconds > 0 else ''}")

    csvf = None
    if a.csv:
        d = os.path.dirname(a.csv)
        if d:
            os.makedirs(d, exist_ok=True)
        csvf = open(a.csv, "w")
        csvf.write(HEADER + "\n")
        csvf.flush()

    g = torch.Generator()
    g.manual_seed(a.seed ^ DATA_SEED_XOR)
    ar32 = torch.arange(32, device=dev)
    ch3 = torch.arange(3, device=dev)
    gstep = 0
    last_epoch_s = 0.0
    stopped = None
    final_acc = None
    done = 0
    rc = 0
    for epoch in range(1, a.epochs + 1):
        elapsed = time.perf_counter() - T_START
        if a.max_seconds > 0 and elapsed + last_epoch_s > a.max_seconds:
            stopped = (f"stopped by --max-seconds {a.max_seconds:.0f} before epoch {epoch} "
                       f"({elapsed:.0f} s used, the last epoch took {last_epoch_s:.0f} s)")
            break
        t0 = time.perf_counter()
        model.train()
        # this epoch's order and augmentation draws, made on the CPU, sent once
        perm = torch.randperm(n, generator=g).to(dev, non_blocking=True)
        dy = torch.randint(0, 9, (n,), generator=g).to(dev, non_blocking=True)
        dx = torch.randint(0, 9, (n,), generator=g).to(dev, non_blocking=True)
        flip = (torch.rand(n, generator=g) < 0.5).to(dev, non_blocking=True)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        hits = torch.zeros((), dtype=torch.int64, device=dev)
        lr = opt.param_groups[0]["lr"]
        for bi in range(steps):
            if a.max_seconds > 0 and time.perf_counter() - T_START > a.max_seconds:
                stopped = (f"stopped by --max-seconds {a.max_seconds:.0f} in epoch {epoch} at batch "
                           f"{bi} of {steps} (that epoch is not recorded)")
                break
            s, e = bi * a.batch, min(n, (bi + 1) * a.batch)
            idx = perm[s:e]
            xb = norm(augment_batch(pad, idx, dy[s:e], dx[s:e], flip[s:e], ar32, ch3))
            yb = ytr[idx]
            lr = opt.param_groups[0]["lr"]  # the lr this step uses
            opt.zero_grad(set_to_none=True)
            with amp():
                out = fwd(xb)
                loss = F.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            gstep += 1
            if gstep < total:  # no step past the schedule's end
                sched.step()
            loss_sum += loss.detach().double() * (e - s)
            hits += (out.detach().argmax(1) == yb).sum()
        if stopped:
            break
        train_loss = loss_sum.item() / n
        train_acc = 100.0 * hits.item() / n

        model.eval()
        tl = torch.zeros((), dtype=torch.float64, device=dev)
        th = torch.zeros((), dtype=torch.int64, device=dev)
        with torch.no_grad():
            for s in range(0, n_test, a.eval_batch):
                xb, yb = xte[s:s + a.eval_batch], yte[s:s + a.eval_batch]
                with amp():
                    out = fwd(xb)
                tl += F.cross_entropy(out.float(), yb, reduction="sum").double()
                th += (out.argmax(1) == yb).sum()
        test_loss = tl.item() / n_test
        test_acc = 100.0 * th.item() / n_test
        seconds = time.perf_counter() - t0
        last_epoch_s = seconds
        final_acc = test_acc
        done = epoch
        if csvf:
            csvf.write(f"1,{epoch},{lr:.9g},{train_loss:.6f},{train_acc:.4f},{test_loss:.6f},"
                       f"{test_acc:.4f},{seconds:.3f}\n")
            csvf.flush()
            os.fsync(csvf.fileno())
        log(f"phase 1 epoch {epoch}/{a.epochs}: train loss {train_loss:.4f} acc {train_acc:.2f}%, "
            f"test loss {test_loss:.4f} acc {test_acc:.2f}%, lr {lr:.4g}, {seconds:.1f} s "
            f"({n / seconds:.0f} img/s incl. eval)")
        if not math.isfinite(train_loss):
            log(f"torch_train_parity: training diverged (train loss {train_loss}) in epoch {epoch}")
            rc = 1
            break
    if csvf:
        csvf.close()
    if stopped:
        log(f"torch_train_parity: {stopped}")
        rc = 3
    if final_acc is not None:
        log(f"final test accuracy: {final_acc:.2f}% ({a.model}, seed {a.seed}, after {done} of "
            f"{a.epochs} epochs, {time.perf_counter() - T_START:.0f} s in all)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
