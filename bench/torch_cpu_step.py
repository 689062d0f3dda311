#!/usr/bin/env python3
"""torch_cpu_step.py: PyTorch's CPU training step or evaluation forward on the
models of sparse24's engine, for docs/results/cpu-engine.csv.

The models come from torch_train_step.py's build_model (torchvision's, built
as the engine builds them). Channels_last, fp32, torch.set_num_threads(T);
train = zero_grad + forward + cross-entropy + backward + SGD(lr 0.1,
momentum 0.9, weight decay 5e-4), eval = a no_grad forward in eval mode.
Two untimed calls, then the median of `reps` timed ones, as the sparse24
timers do (`sparse24 bench train --warmup 2 --group 1`, `sparse24 infer`).

usage: torch_cpu_step.py MODEL train|eval BATCH REPS [THREADS]
prints: MODEL MODE batch B threads T: median X ms, Y img/s
"""
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train_step import build_model  # noqa: E402


def main():
    arch, mode, batch, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    if mode not in ("train", "eval"):
        sys.exit(f"mode {mode!r}: expected train or eval")
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    fmt = torch.channels_last
    m = build_model(arch).to(memory_format=fmt)
    x = torch.randn(batch, 3, 32, 32).to(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    lossf = nn.CrossEntropyLoss()
    m.train(mode == "train")

    def step():
        if mode == "train":
            opt.zero_grad(set_to_none=True)
            lossf(m(x), y).backward()
            opt.step()
        else:
            with torch.no_grad():
                m(x)

    for _ in range(2):
        step()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        t.append(time.perf_counter() - t0)
    med = statistics.median(t)
    print(f"{arch} {mode} batch {batch} threads {threads}: median {med * 1e3:.1f} ms, "
          f"{batch / med:.1f} img/s")


if __name__ == "__main__":
    main()
