"""tabclr's convnet4 encoder, projection head, NT-Xent and AdamW in PyTorch, op for op, for the step-level parity
check (scripts/parity/step_parity.py). Kept small and apart on purpose: src/export/python/tabclr_torch.py (the
exported models' PyTorch port) is to replace the model half of it.

What makes it tabclr's rather than the reference's (../shared/reference/ref_simclr.py):
- TensorFlow 'same' padding: (k - 1) split with the extra pixel at the bottom/right, so a stride-2 3x3 conv on an
  even side pads 0 before and 1 after (PyTorch's padding=1 pads 1 on both sides and samples other pixels);
- batch norm as tfjs-layers computes it: biased batch variance both to normalise and in the moving average
  (momentum 0.9 in Keras' convention: moving = 0.9 moving + 0.1 batch);
- the projection head's dense layers have no bias (batch norm follows each), and every batch norm has gamma and beta;
- NT-Xent masks self-similarity by subtracting 1e9 and L2-normalises with x / sqrt(sum x^2 + 1e-12);
- AdamW with decoupled decay on conv and dense kernels only (not batch norm, not biases), and tabclr's schedule.
Layer names are tabclr's safetensors names (block1_conv.weight, block1_bn.running_var, head1_dense.weight, ...).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_MOMENTUM = 0.9  # Keras convention
BN_EPSILON = 1e-5
SELF_MASK = 1e9


def scaled_width(base, width):
    return max(1, round(base * width))


def same_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


class BatchNorm(nn.Module):
    """tfjs-layers BatchNormalization over every axis but the channel axis (dim 1 here)."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x):
        axes = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean = x.mean(dim=axes)
            var = ((x - mean.view(shape)) ** 2).mean(dim=axes)
            with torch.no_grad():
                self.running_mean.sub_((self.running_mean - mean) * (1 - BN_MOMENTUM))
                self.running_var.sub_((self.running_var - var) * (1 - BN_MOMENTUM))
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean.view(shape)) * (self.weight / torch.sqrt(var + BN_EPSILON)).view(shape) + self.bias.view(shape)


class SameConv(nn.Module):
    def __init__(self, cin, cout, k, s):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, k, k))
        self.k, self.s = k, s

    def forward(self, x):
        top, bottom = same_pads(x.shape[2], self.k, self.s)
        left, right = same_pads(x.shape[3], self.k, self.s)
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, stride=self.s)


class Convnet4(nn.Module):
    def __init__(self, model):
        super().__init__()
        w = model["width"]
        c = model["channels"]
        for i, base in enumerate([32, 64, 128, 256]):
            out = scaled_width(base, w)
            setattr(self, f"block{i + 1}_conv", SameConv(c, out, 3, 1 if i == 0 else 2))
            setattr(self, f"block{i + 1}_bn", BatchNorm(out))
            c = out
        self.representation = nn.Linear(c, scaled_width(256, w))
        self.representation_relu = model.get("representationRelu", True)
        self.out_dim = scaled_width(256, w)

    def forward(self, x):
        for i in range(1, 5):
            x = F.relu(getattr(self, f"block{i}_bn")(getattr(self, f"block{i}_conv")(x)))
        h = self.representation(x.mean(dim=(2, 3)))
        return F.relu(h) if self.representation_relu else h


class ProjectionHead(nn.Module):
    def __init__(self, d_in, model):
        super().__init__()
        layers = model["headLayers"]
        # config.model.headHidden (configs from before the field: 'representation'); headHiddenDim forces a width.
        rule = model.get("headHidden", "representation")
        hidden = model.get("headHiddenDim") or (max(d_in, model["projectionDim"]) if rule == "atLeastProjection" else d_in)
        self.layers = layers
        d = d_in
        for i in range(1, layers + 1):
            out = model["projectionDim"] if i == layers else hidden
            setattr(self, f"head{i}_dense", nn.Linear(d, out, bias=False))
            setattr(self, f"head{i}_bn", BatchNorm(out))
            d = out

    def forward(self, h):
        x = h
        for i in range(1, self.layers + 1):
            x = getattr(self, f"head{i}_bn")(getattr(self, f"head{i}_dense")(x))
            if i < self.layers:
                x = F.relu(x)
        return x


def l2_normalize(x):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-12)


def nt_xent(z1, z2, temperature):
    n = z1.shape[0]
    z = l2_normalize(torch.cat([z1, z2]))
    logits = z @ z.t() / temperature - torch.eye(2 * n, dtype=z.dtype) * SELF_MASK
    positives = (torch.arange(2 * n) + n) % (2 * n)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -log_prob[torch.arange(2 * n), positives].mean()


def excluded_from_decay(name):
    """tabclr's isExcludedFromDecay, on PyTorch names: batch norm parameters and biases."""
    n = name.lower()
    return n.endswith("bias") or "_bn." in n


def learning_rate_at(step, optim):
    base, warm, total = optim["learningRate"], optim["warmupSteps"], optim["totalSteps"]
    if step >= total:
        return 0.0
    if step < warm:
        return base * (step + 1) / warm
    return base * 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))


class AdamW:
    """tabclr's adamRule: m, v; step = (m / bc1) / (sqrt(v / bc2) + eps) + wd * p (kernels only); p -= lr * step."""

    def __init__(self, named_params, weight_decay, eps=1e-8):
        self.params = list(named_params)
        self.wd, self.eps, self.t = weight_decay, eps, 0
        self.m = {n: torch.zeros_like(p) for n, p in self.params}
        self.v = {n: torch.zeros_like(p) for n, p in self.params}

    @torch.no_grad()
    def step(self, lr):
        self.t += 1
        bc1, bc2 = 1 - 0.9 ** self.t, 1 - 0.999 ** self.t
        for n, p in self.params:
            g = p.grad
            self.m[n] = 0.9 * self.m[n] + 0.1 * g
            self.v[n] = 0.999 * self.v[n] + (1 - 0.999) * g * g
            upd = (self.m[n] / bc1) / (torch.sqrt(self.v[n] / bc2) + self.eps)
            if not excluded_from_decay(n) and self.wd > 0:
                upd = upd + self.wd * p
            p.sub_(lr * upd)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").copy()).view(*e["shape"]) if e["shape"] else \
            torch.from_numpy(np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").copy()).view(())
    return out


def build(config):
    model = config["model"]
    if model["encoder"] != "convnet4":
        raise SystemExit(f"this port has convnet4 only, got {model['encoder']}")
    encoder = Convnet4(model)
    head = ProjectionHead(encoder.out_dim, model)
    return encoder, head
