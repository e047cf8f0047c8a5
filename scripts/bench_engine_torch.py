"""The PyTorch side of `npm run bench:engine`: tabclr's SimCLR step in PyTorch, for one configuration on one device.

The model is tabclr's own, built by src/export/python/tabclr_torch.py (the module every weights zip carries) from the
same training.model a tabclr run has: the encoder and the projection head, with TensorFlow's 'same' padding and
tabclr's batch norm. The step does what tabclr's step does, on the device: both views of a batch of source images
augmented on the device (random resized crop and flip, colour jitter, random grayscale; no blur below 64 px, as
tabclr's defaults), both views through the encoder as one batch of 2N, the head, NT-Xent at temperature 0.2, the
gradients, their global norm, AdamW (decay off batch norm and biases), and one read of the loss and the norm per step,
as tabclr reads them. It prints one JSON line (kind "torch") on stdout; progress goes to stderr.

    python3 scripts/bench_engine_torch.py --encoder convnet4 --width 0.25 --batch 16 --image-size 28 --channels 1 \
        --steps 10 --warmup 2 --device cpu
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time


def module_dir() -> str:
    """Where tabclr_torch.py is: TABCLR_TORCH_MODULE_DIR (a pack puts it beside this file), else the repository's."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.environ.get("TABCLR_TORCH_MODULE_DIR"), here, os.path.join(here, "..", "src", "export", "python")):
        if candidate and os.path.exists(os.path.join(candidate, "tabclr_torch.py")):
            return candidate
    raise SystemExit("bench_engine_torch.py: tabclr_torch.py not found (set TABCLR_TORCH_MODULE_DIR)")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config-name", default="custom")
    p.add_argument("--encoder", choices=["convnet4", "resnet18"], required=True)
    p.add_argument("--width", type=float, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument("--channels", type=int, choices=[1, 3], required=True)
    p.add_argument("--optimizer", choices=["adam", "sgd", "lars"], default="adam")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu")
    return p.parse_args()


# tabclr's defaults (src/engine/config.ts): Adam 1e-3 with decay 1e-4, temperature 0.2, projection 128, 2 head layers.
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
MOMENTUM = 0.9
TEMPERATURE = 0.2
PROJECTION_DIM = 128
HEAD_LAYERS = 2


def main() -> None:
    args = parse()
    sys.path.insert(0, module_dir())
    import torch
    import torch.nn.functional as F

    import tabclr_torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_engine_torch.py: CUDA was asked for, and torch sees no CUDA device")
    torch.manual_seed(1)
    model_config = {
        "encoder": args.encoder,
        "width": args.width,
        "imageSize": args.image_size,
        "channels": args.channels,
        "headLayers": HEAD_LAYERS,
        "projectionDim": PROJECTION_DIM,
    }
    encoder = tabclr_torch.build_encoder(model_config).to(device).train()
    head = tabclr_torch.build_projection_head(model_config, encoder.representation_dim).to(device).train()
    params = [(n, p) for m in (encoder, head) for n, p in m.named_parameters()]
    # tabclr's isExcludedFromDecay: batch norm parameters and biases take no decay.
    excluded = [p for n, p in params if "bn" in n or n.endswith("bias")]
    decayed = [p for n, p in params if not ("bn" in n or n.endswith("bias"))]
    groups = [{"params": decayed, "weight_decay": WEIGHT_DECAY}, {"params": excluded, "weight_decay": 0.0}]
    if args.optimizer == "adam":
        optimizer = torch.optim.AdamW(groups, lr=LEARNING_RATE)
    else:
        # LARS has no torch.optim counterpart; momentum SGD stands in for both (the update is a handful of ops either way).
        optimizer = torch.optim.SGD(groups, lr=LEARNING_RATE, momentum=MOMENTUM)

    n, s, c = args.batch, args.image_size, args.channels
    generator = torch.Generator(device="cpu").manual_seed(7)
    pool = torch.randint(0, 256, (max(4 * n, 64), c, s, s), dtype=torch.uint8, generator=generator).to(device)
    luma = torch.tensor([0.299, 0.587, 0.114], device=device).view(1, 3, 1, 1)

    def gray(x: torch.Tensor) -> torch.Tensor:
        return x if c == 1 else (x * luma).sum(dim=1, keepdim=True)

    def view(images: torch.Tensor) -> torch.Tensor:
        """One augmented view of the batch, drawn on the device: tabclr's defaults for images under 64 px."""
        b = images.shape[0]
        # Random resized crop, area (0.2, 1), aspect (3/4, 4/3) log-uniform, flip with probability 1/2.
        area = torch.empty(b, device=device).uniform_(0.2, 1.0)
        aspect = torch.exp(torch.empty(b, device=device).uniform_(math.log(3 / 4), math.log(4 / 3)))
        w = torch.sqrt(area * aspect).clamp(max=1.0)
        h = torch.sqrt(area / aspect).clamp(max=1.0)
        cx = (torch.rand(b, device=device) * (1 - w) + w / 2) * 2 - 1
        cy = (torch.rand(b, device=device) * (1 - h) + h / 2) * 2 - 1
        flip = torch.where(torch.rand(b, device=device) < 0.5, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3, device=device)
        theta[:, 0, 0] = w * flip
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = h
        theta[:, 1, 2] = cy
        grid = F.affine_grid(theta, [b, c, s, s], align_corners=True)
        x = F.grid_sample(images, grid, mode="bilinear", align_corners=True)
        # Colour jitter with probability 0.8: brightness and contrast (and saturation and hue in colour) at strength
        # 0.8 (grayscale) or 0.4 (small colour images); one fixed order here, tabclr draws one per image.
        strength = 0.8 if c == 1 else 0.4
        on = (torch.rand(b, 1, 1, 1, device=device) < 0.8).float()

        def factor() -> torch.Tensor:
            f = torch.empty(b, 1, 1, 1, device=device).uniform_(1 - strength, 1 + strength)
            return on * f + (1 - on)

        x = (x * factor()).clamp(0, 1)
        mean = gray(x).mean(dim=(1, 2, 3), keepdim=True)
        f = factor()
        x = (mean * (1 - f) + x * f).clamp(0, 1)
        if c == 3:
            f = factor()
            x = (gray(x) * (1 - f) + x * f).clamp(0, 1)
            # Hue: a rotation of chroma in YIQ by up to ±0.1 turns.
            angle = on.view(b) * torch.empty(b, device=device).uniform_(-0.1, 0.1) * 2 * math.pi
            yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=device)
            rot = torch.zeros(b, 3, 3, device=device)
            rot[:, 0, 0] = 1
            rot[:, 1, 1] = torch.cos(angle)
            rot[:, 1, 2] = -torch.sin(angle)
            rot[:, 2, 1] = torch.sin(angle)
            rot[:, 2, 2] = torch.cos(angle)
            m = torch.linalg.inv(yiq) @ rot @ yiq
            x = torch.einsum("brk,bkhw->brhw", m, x).clamp(0, 1)
            grayed = (torch.rand(b, 1, 1, 1, device=device) < 0.2).float()
            x = x * (1 - grayed) + gray(x) * grayed
        return x

    def step() -> tuple[float, float]:
        index = torch.randint(0, pool.shape[0], (n,), device=device)
        images = pool[index].float() / 255
        views = torch.cat([view(images), view(images)], 0)
        z = head(encoder(views))
        zn = F.normalize(z, dim=1)
        logits = zn @ zn.t() / TEMPERATURE - torch.eye(2 * n, device=device) * 1e9
        positives = (torch.arange(2 * n, device=device) + n) % (2 * n)
        loss = F.cross_entropy(logits, positives)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.sqrt(sum((p.grad.detach() ** 2).sum() for _, p in params if p.grad is not None))
        # One read per step of the loss and the norm, as tabclr reads them before it applies the update.
        values = torch.stack([loss.detach(), norm]).cpu()
        optimizer.step()
        return float(values[0]), float(values[1])

    def synchronise() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for i in range(args.warmup):
        t0 = time.perf_counter()
        step()
        synchronise()
        print(f"torch {device.type}: warm-up step {i + 1}: {1000 * (time.perf_counter() - t0):.0f} ms", file=sys.stderr)
    times = []
    loss = float("nan")
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss, _ = step()
        synchronise()
        times.append(1000 * (time.perf_counter() - t0))
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "kind": "torch",
                "config": args.config_name,
                "device": device.type,
                "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads",
                "torch_version": torch.__version__,
                "threads": torch.get_num_threads(),
                "images_per_sec": round(n * 1000 / median, 2),
                "step_ms": round(median, 2),
                "step_ms_all": [round(t, 2) for t in times],
                "parameters": sum(p.numel() for _, p in params),
                "final_loss": round(loss, 5),
            }
        )
    )


if __name__ == "__main__":
    main()
