#!/usr/bin/python3
"""One factor at a time between tabclr and the reference, in PyTorch (fast on a CPU): the reference's own data
loading, torchvision augmentation, epoch sampler, schedule and kNN (imported from ref_simclr.py), with tabclr's model
and optimiser (tabclr_model.py, which step_parity.py checks against tabclr's engine to float32 tolerance) and each of
tabclr's choices switchable to the reference's:

  --pad same|torch          TensorFlow 'same' (stride 2: extra pixel bottom/right) | PyTorch padding=1
  --init keras|torch        He-normal convs + Glorot dense + zero biases | PyTorch defaults (kaiming-uniform a=sqrt 5,
                            biases uniform +-1/sqrt(fan_in))
  --h-relu 1|0              ReLU on the representation h
  --head-hidden N           width of the head's hidden layer (0: the width of h)
  --decay kernels|all       decoupled weight decay on conv/dense kernels only (tabclr) | every parameter (torch AdamW)
  --bn-var biased|unbiased  the batch variance the moving average takes

Replaying one of tabclr's runs (scripts/parity/dump-run.ts --out PREFIX writes its initial weights, batches and views):
  --replay PREFIX           train on that run's batches (instead of the reference's sampler), with
  --replay-views tabclr|torchvision   its recorded views | torchvision's augmentation of the same images
  --replay-init tabclr|own  its initial weights | this script's initialisation (--init) from torch's seeded RNG
With all three of tabclr's, a replay is tabclr's run computed in PyTorch: it differs from the engine only in float
rounding (which Adam's first steps amplify: each weight moves by ±lr whatever its gradient's size). Swapping one
measures that one's share of a gap, on many seeds in the time one engine run takes.

  /usr/bin/python3 scripts/parity/ablate.py --train DIR --test DIR [--size 16 --steps 150 --seed 0 --eval-at 50] [switches]
prints one JSON line: kNN at step 0 (untrained), at --eval-at and at the end; mean loss of the last 10 steps.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision.transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tabclr_model as tm  # noqa: E402
from reference_path import load_reference  # noqa: E402


def read_replay(a, xtr, size, ch):
    """A run dump-run.ts wrote, checked against this script's settings and pixels."""
    with open(a.replay + ".json") as f:
        meta = json.load(f)
    wanted = {"batch": a.batch, "size": size, "channels": ch, "train": len(xtr)}
    if any(meta[k] != v for k, v in wanted.items()) or meta["steps"] < a.steps:
        sys.exit(f"--replay {a.replay}: recorded {meta}, this run needs {wanted} and {a.steps} steps")
    batches = np.fromfile(a.replay + ".batches.i32", dtype="<i4").reshape(meta["steps"], a.batch)
    views = np.fromfile(a.replay + ".views.f32", dtype="<f4").reshape(meta["steps"], 2 * a.batch, size, size, ch)
    return {"batches": batches, "views": torch.from_numpy(views).permute(0, 1, 4, 2, 3).contiguous()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--projection", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-at", default="50")
    ap.add_argument("--pad", choices=["same", "torch"], default="same")
    ap.add_argument("--init", choices=["keras", "torch"], default="keras")
    ap.add_argument("--h-relu", type=int, default=1)
    ap.add_argument("--head-hidden", type=int, default=0)
    ap.add_argument("--decay", choices=["kernels", "all"], default="kernels")
    ap.add_argument("--bn-var", choices=["biased", "unbiased"], default="biased")
    ap.add_argument("--replay", default="", help="PREFIX written by scripts/parity/dump-run.ts")
    ap.add_argument("--replay-views", choices=["tabclr", "torchvision"], default="tabclr")
    ap.add_argument("--replay-init", choices=["tabclr", "own"], default="tabclr")
    a = ap.parse_args()
    ref = load_reference()
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    classes, xtr, ytr, xte, yte, gray, size, _ = ref.load_split(a.train, a.test, a.size, "auto")
    ch = xtr.shape[1]
    zero, one = torch.zeros(1, ch, 1, 1), torch.ones(1, ch, 1, 1)

    if a.pad == "torch":
        conv = tm.tabclr_torch.Conv2dSame
        conv.forward = lambda self, x: nn.functional.conv2d(x, self.weight, None, self.stride, padding=(self.kernel_size[0] - 1) // 2)
    if a.bn_var == "unbiased":
        orig = tm.BatchNorm.forward

        def forward(self, x):
            if not self.training:
                return orig(self, x)
            axes = [0] + list(range(2, x.dim()))
            n = x.numel() // x.shape[1]
            before = self.running_var.clone()
            y = orig(self, x)
            with torch.no_grad():
                var = x.var(dim=axes, unbiased=True)
                self.running_var.copy_(before * tm.BN_MOMENTUM + var * (1 - tm.BN_MOMENTUM))
            return y
        tm.BatchNorm.forward = forward

    if a.head_hidden not in (0, max(a.projection, tm.tabclr_torch.scaled_width(256, a.width))):
        sys.exit("--head-hidden is 0 (the width of h) or the larger of h and the projection (tabclr's two rules)")
    model = {"encoder": "convnet4", "width": a.width, "channels": ch, "imageSize": size, "headLayers": 2,
             "projectionDim": a.projection, "representationRelu": bool(a.h_relu),
             "headHidden": "atLeastProjection" if a.head_hidden else "representation", "init": a.init}
    encoder, head = tm.build({"model": model})
    for name, mod in list(encoder.named_modules()) + list(head.named_modules()):
        w = getattr(mod, "weight", None)
        if isinstance(mod, tm.BatchNorm) or w is None:
            continue
        fan_in = w[0].numel()
        if a.init == "torch":
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            if getattr(mod, "bias", None) is not None:
                nn.init.uniform_(mod.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        else:
            if isinstance(mod, nn.Conv2d):
                std = math.sqrt(2.0 / fan_in) / 0.87962566103423978  # tfjs heNormal: truncated normal, scale 2, fan-in
                nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)
            else:
                nn.init.xavier_uniform_(w)
            if getattr(mod, "bias", None) is not None:
                nn.init.zeros_(mod.bias)

    replay = read_replay(a, xtr, size, ch) if a.replay else None
    if replay and a.replay_init == "tabclr":
        tm.load_weights(encoder, head, tm.read_safetensors(a.replay + ".initial.safetensors"))

    named = list(encoder.named_parameters()) + list(head.named_parameters())
    opt = tm.AdamW(named, a.wd)
    if a.decay == "all":
        tm.excluded_from_decay = lambda name: False

    aug = T.Compose([T.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True), T.RandomHorizontalFlip(0.5),
                     T.RandomApply([T.ColorJitter(brightness=0.8, contrast=0.8)], p=0.8)])

    def knn():
        return round(ref.knn_eval(ref.features(encoder, xtr, zero, one), ytr, ref.features(encoder, xte, zero, one), yte,
                                  len(classes))[0], 4)

    optim = {"learningRate": a.lr, "warmupSteps": a.warmup, "totalSteps": a.steps}
    knn_at = {0: knn()}
    eval_at = {int(v) for v in a.eval_at.split(",") if v}
    perm_rng = np.random.RandomState(a.seed)
    per_epoch = len(xtr) // a.batch
    order, pos, losses = None, per_epoch, []
    encoder.train(); head.train()
    for step in range(1, a.steps + 1):
        if replay:
            idx = replay["batches"][step - 1]
        else:
            if pos >= per_epoch:
                order, pos = perm_rng.permutation(len(xtr)), 0
            idx = order[pos * a.batch:(pos + 1) * a.batch]
            pos += 1
        if replay and a.replay_views == "tabclr":
            x = replay["views"][step - 1]
        else:
            x = torch.cat([torch.stack([aug(xtr[i]) for i in idx]), torch.stack([aug(xtr[i]) for i in idx])])
        for _, p in named:
            p.grad = None
        z = head(encoder(x))
        loss = tm.nt_xent(z[:a.batch], z[a.batch:], a.temperature)
        loss.backward()
        opt.step(tm.learning_rate_at(step - 1, optim))
        losses.append(loss.item())
        if step in eval_at or step == a.steps:
            knn_at[step] = knn()
            encoder.train()
    print(json.dumps({"knn_at_step": knn_at, "loss_last10": round(sum(losses[-10:]) / 10, 4), "losses": [round(v, 5) for v in losses],
                      "settings": {k: v for k, v in vars(a).items() if k not in ("train", "test")}}))


if __name__ == "__main__":
    main()
