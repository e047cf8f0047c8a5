"""What the step-level parity check (scripts/parity/step_parity.py) and the one-factor runs (ablate.py) train in
PyTorch: tabclr's encoder and projection head as the zip's own module builds them (src/export/python/tabclr_torch.py:
TensorFlow 'same' padding, tabclr's layer names, h with or without its ReLU, the head's hidden width, from
config.json's training.model), trained as tabclr's engine trains them, op for op:
- batch norm as tfjs-layers computes it in training: the biased batch variance both to normalise and in the moving
  average (momentum 0.9 in Keras' convention: moving = 0.9 moving + 0.1 batch), where nn.BatchNorm's moving average
  takes the unbiased one; every batch norm of the built model is swapped for that;
- NT-Xent masking self-similarity by subtracting 1e9, with x / sqrt(sum x^2 + 1e-12) as the L2 normalisation;
- AdamW with decoupled decay on conv and dense kernels only (not batch norm, not biases), and tabclr's schedule.
"""
import importlib.util
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_MOMENTUM = 0.9  # Keras convention
BN_EPSILON = 1e-5
SELF_MASK = 1e9

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _load(name, *path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(_ROOT, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tabclr_torch = _load("tabclr_torch", "src", "export", "python", "tabclr_torch.py")
# tabclr's learning-rate schedule (src/engine/optim.ts, learningRateAt), as the cluster script already follows it.
learning_rate_at = _load("train_ddp", "scripts", "cluster", "train_ddp.py").learning_rate_at


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


def _tfjs_batch_norms(module):
    """Every nn.BatchNorm1d/2d of `module` replaced by BatchNorm with the same parameters and statistics."""
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            bn = BatchNorm(child.num_features)
            with torch.no_grad():
                bn.weight.copy_(child.weight)
                bn.bias.copy_(child.bias)
                bn.running_mean.copy_(child.running_mean)
                bn.running_var.copy_(child.running_var)
            setattr(module, name, bn)
        else:
            _tfjs_batch_norms(child)
    return module


def build_encoder(config):
    """tabclr's encoder for a TrainConfig (config.json's "training") with tfjs's batch norm, state_dict keys as in
    tabclr's safetensors (block1_conv.weight, ...)."""
    encoder = tabclr_torch.build_encoder(config["model"])
    encoder.out_dim = encoder.representation_dim
    return _tfjs_batch_norms(encoder)


def build(config):
    """tabclr's encoder and SimCLR's projection head for a TrainConfig, state_dict keys as in tabclr's safetensors
    without the part prefix (block1_conv.weight, head1_bn.running_var, ...)."""
    encoder = build_encoder(config)
    head = tabclr_torch.build_projection_head(config["model"], encoder.representation_dim)
    return encoder, _tfjs_batch_norms(head)


def same_pads(n, k, s):
    """TensorFlow's 'same' padding of one axis: (before, after)."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


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


def load_weights(encoder, head, weights):
    """tabclr's weights (read_safetensors: flat PyTorch names) into the encoder and head; every name must fit."""
    encoder.load_state_dict({k: v for k, v in weights.items() if k in encoder.state_dict()}, strict=True)
    head.load_state_dict({k: v for k, v in weights.items() if k in head.state_dict()}, strict=True)
