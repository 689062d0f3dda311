#!/usr/bin/env python3
"""make_torch_fixtures.py: PyTorch reference fixtures for sparse24's engine.

Runs where PyTorch and torchvision are installed (not in CI). For each of
smallcnn (its PyTorch twin below), resnet18 (torchvision, CIFAR stem: conv1
3x3 stride 1 padding 1, no max-pool), resnet18_imagenet (torchvision's
resnet18 as it is: 7x7 stem and max-pool) and efficientnet_b0 (torchvision),
all with 10 classes, it

  1. fills every parameter and buffer from one closed-form generator (below),
  2. runs an eval-mode forward on a closed-form input (logits),
  3. runs one training-mode forward/backward with dropout and stochastic depth
     disabled (logits, mean cross-entropy loss, a few gradients, the first BN's
     running statistics after the update),

in float64 (the parameters rounded to float32 first, so both sides hold the
same values), and writes tests/fixtures-style files torch_<arch>.bin.

Generator (tensor k = 0, 1, ... in state_dict order, element i = flat index in
PyTorch's layout, t in [-1, 1) from one of two closed forms, --generator):
  hash (default): z = i * 0x9E3779B97F4A7C15 + (k + 1) * 0xD1B54A32D192ED03 (mod 2^64),
                  z ^= z >> 32, z *= 0xBF58476D1CE4E5B9 (mod 2^64), z ^= z >> 29,
                  t = 2 * (z >> 11) / 2^53 - 1   (integer ops: bit-identical in C)
  sin:            t = sin(0.37 * i + k)
  The committed fixtures of version 1 used `sin`; it makes every conv filter
  bank rank 2 (each output channel is a phase shift of one sinusoid), so the
  batch-norm variances of ResNet18's training forward come out nearly zero
  and the training step is ill-conditioned (1e-7 input noise moves the
  logits by 1%). `hash` draws well-spread values; the fixture records which
  one was used in meta.generator (0 sin, 1 hash).
  conv / linear weight      2 / sqrt(fan_in) * t    fan_in = numel / shape[0]
  conv / linear bias        0.1 * t
  BN weight                 1 + 0.25 * t
  BN bias, running_mean     0.1 * t
  BN running_var            1 + 0.5 * t             (in [0.5, 1.5])
  num_batches_tracked       k
Input (N, 3, H, W), flat NCHW index i: sin generator 0.5 * sin(0.11 * i + 0.3) +
0.5 * cos(0.017 * i); hash generator t(i, k = 1000).
Labels of the training batch: (3 * n) % 10.

Fixture format (little-endian): b"S24F", u32 version (1), u32 count, then per
entry u32 name length, name (UTF-8, no NUL), u32 ndim, ndim x i64 dims,
float32 data. Names: input_eval, logits_eval, input_train, labels_train,
logits_train, loss, grad.<param>, after.<buffer>, meta.*.

Usage: python3 scripts/make_torch_fixtures.py --out DIR
"""
import argparse
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class SmallCNN(nn.Module):
    """The PyTorch twin of sparse24's smallcnn (same state_dict keys)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, 3, 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(arch, num_classes=10):
    if arch == "smallcnn":
        return SmallCNN(num_classes)
    if arch == "resnet18":
        m = torchvision.models.resnet18(num_classes=num_classes)
        m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        m.maxpool = nn.Identity()
        return m
    if arch == "resnet18_imagenet":
        return torchvision.models.resnet18(num_classes=num_classes)
    if arch == "efficientnet_b0":
        return torchvision.models.efficientnet_b0(num_classes=num_classes)
    raise ValueError(arch)


def no_drop(m):
    for mod in m.modules():
        if isinstance(mod, nn.Dropout):
            mod.p = 0.0
        if isinstance(mod, torchvision.ops.StochasticDepth):
            mod.p = 0.0


GENERATOR = "hash"
M64 = (1 << 64) - 1


def gen_t(n, k):
    if GENERATOR == "sin":
        return np.sin(np.arange(n, dtype=np.float64) * 0.37 + k)
    with np.errstate(over="ignore"):
        z = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = z + np.uint64(((k + 1) * 0xD1B54A32D192ED03) & M64)
        z ^= z >> np.uint64(32)
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(29)
    return 2.0 * (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 - 1.0


def generator_values(name, shape, k, bn_prefixes):
    n = int(np.prod(shape)) if len(shape) else 1
    t = gen_t(n, k)
    prefix, leaf = name.rsplit(".", 1)
    is_bn = prefix in bn_prefixes
    if leaf == "weight" and not is_bn:
        v = 2.0 / math.sqrt(n // shape[0]) * t
    elif leaf == "bias" and not is_bn:
        v = 0.1 * t
    elif leaf == "weight":
        v = 1.0 + 0.25 * t
    elif leaf in ("bias", "running_mean"):
        v = 0.1 * t
    elif leaf == "running_var":
        v = 1.0 + 0.5 * t
    else:
        raise ValueError(name)
    return v.astype(np.float32).reshape(shape)


def fill(m):
    sd = m.state_dict()
    bn_prefixes = {k.rsplit(".", 1)[0] for k in sd if k.endswith(".running_mean")}
    new = {}
    for k, (name, t) in enumerate(sd.items()):
        if name.endswith("num_batches_tracked"):
            new[name] = torch.tensor(k, dtype=torch.long)
        else:
            new[name] = torch.from_numpy(generator_values(name, tuple(t.shape), k, bn_prefixes))
    m.load_state_dict(new, strict=True)


def closed_input(n, h, w):
    if GENERATOR == "hash":
        return gen_t(n * 3 * h * w, 1000).astype(np.float32).reshape(n, 3, h, w)
    i = np.arange(n * 3 * h * w, dtype=np.float64)
    x = 0.5 * np.sin(0.11 * i + 0.3) + 0.5 * np.cos(0.017 * i)
    return x.astype(np.float32).reshape(n, 3, h, w)


def write_fixture(path, entries):
    out = bytearray(b"S24F")
    out += struct.pack("<II", 1, len(entries))
    for name, arr in entries:
        a = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
        nb = name.encode()
        out += struct.pack("<I", len(nb)) + nb
        out += struct.pack("<I", a.ndim)
        for d in a.shape:
            out += struct.pack("<q", d)
        out += a.astype("<f4").tobytes()
    with open(path + ".tmp", "wb") as f:
        f.write(out)
    os.replace(path + ".tmp", path)
    return len(out)


CONFIG = {
    # arch: (train input size, gradients recorded, first BN)
    "smallcnn": (32, ["conv1.weight", "conv2.weight", "bn2.weight", "fc.weight", "fc.bias"], "bn1"),
    "resnet18": (32, ["conv1.weight", "layer1.0.bn1.weight", "layer2.0.conv1.weight",
                      "layer2.0.downsample.0.weight", "fc.weight", "fc.bias"], "bn1"),
    # 64x64 training input: maps 32 after the stem, 16 after the max pool
    "resnet18_imagenet": (64, ["conv1.weight", "layer1.0.bn1.weight", "layer2.0.conv1.weight",
                               "layer2.0.downsample.0.weight", "fc.weight", "fc.bias"], "bn1"),
    "efficientnet_b0": (64, ["features.0.0.weight", "features.1.0.block.1.fc1.weight",
                             "features.3.0.block.2.fc2.bias", "features.4.1.block.1.0.weight",
                             "features.5.0.block.0.0.weight", "features.7.0.block.3.1.weight",
                             "classifier.1.weight", "classifier.1.bias"], "features.0.1"),
}


def make(arch, outdir):
    hw_train, grads, bn0 = CONFIG[arch]
    m = build(arch)
    fill(m)
    first_bn = dict(m.named_modules())[bn0]
    print(f"{arch}: {len(m.state_dict())} state_dict entries, "
          f"{sum(p.numel() for p in m.parameters())} parameters, first BN eps {first_bn.eps} "
          f"momentum {first_bn.momentum}")
    bns = {(mod.eps, mod.momentum) for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)}
    print(f"{arch}: BatchNorm (eps, momentum) used: {sorted(bns)}")
    m = m.double()
    entries = [("meta.num_entries", [len(m.state_dict())]),
               ("meta.num_params", [sum(p.numel() for p in m.parameters())]),
               ("meta.bn_eps", [first_bn.eps]), ("meta.bn_momentum", [first_bn.momentum]),
               ("meta.generator", [1 if GENERATOR == "hash" else 0])]
    # eval
    m.eval()
    xe = closed_input(2, 32, 32)
    with torch.no_grad():
        le = m(torch.from_numpy(xe).double())
    entries += [("input_eval", xe), ("logits_eval", le.float().numpy())]
    # one training step's forward/backward, no dropout / stochastic depth
    m.train()
    no_drop(m)
    xt = closed_input(4, hw_train, hw_train)
    labels = np.array([(3 * n) % 10 for n in range(4)])
    lt = m(torch.from_numpy(xt).double())
    loss = F.cross_entropy(lt, torch.from_numpy(labels))
    loss.backward()
    params = dict(m.named_parameters())
    entries += [("input_train", xt), ("labels_train", labels.astype(np.float32)),
                ("logits_train", lt.detach().float().numpy()), ("loss", [loss.item()])]
    for g in grads:
        entries.append(("grad." + g, params[g].grad.float().numpy()))
    sd = m.state_dict()
    for b in ("running_mean", "running_var"):
        entries.append((f"after.{bn0}.{b}", sd[f"{bn0}.{b}"].float().numpy()))
    path = os.path.join(outdir, f"torch_{arch}.bin")
    size = write_fixture(path, entries)
    print(f"{arch}: loss {loss.item():.6f}, logits_eval[0,:3] {le[0, :3].tolist()}, "
          f"wrote {path} ({size} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for torch_<arch>.bin")
    ap.add_argument("--arch", action="append", help="only these (default: all of CONFIG)")
    ap.add_argument("--generator", choices=["hash", "sin"], default="hash")
    a = ap.parse_args()
    global GENERATOR
    GENERATOR = a.generator
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    for arch in a.arch or list(CONFIG):
        make(arch, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
