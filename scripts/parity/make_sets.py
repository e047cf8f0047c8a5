#!/usr/bin/python3
"""Labelled image folders for the parity harness, besides Fashion-MNIST (scripts/fashion-mnist.ts --folders):

  digits   scikit-learn's 8 x 8 handwritten digits (Debian python3-sklearn; 1,797 images, 10 classes), written at
           their own 8 x 8 so that both trainers upscale them (PIL in the reference, the browser in the page):
           per class the first two thirds train, the rest test.
  strokes  drawn here: ten kinds of hand-drawn figure (circle, triangle, square, cross, plus, zigzag, spiral, star,
           arrow, wave), each a polyline with hand-like wobble, random size, position, rotation, stroke width and
           brightness on a dark ground at 28 x 28. Seeded: the same files every time. 200 train / 100 test a class.
  colour   the strokes' ten figures in colour (issue #26): each drawn in a random colour on a random colour ground
           with a second, faint random figure as clutter, at 28 x 28 RGB; the class is the figure, never the colour,
           so colour is a nuisance the augmentations must teach the encoder to ignore. Seeded; 200 train / 100 test.

  /usr/bin/python3 scripts/parity/make_sets.py --set digits|strokes --out DIR   (writes DIR/train/<class>/*.png, DIR/test/...)
"""
import argparse
import math
import os

import numpy as np
from PIL import Image, ImageDraw


def write(root, split, cls, i, arr):
    d = os.path.join(root, split, cls)
    os.makedirs(d, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode="L").save(os.path.join(d, f"{i:05d}.png"))


def digits(out):
    from sklearn.datasets import load_digits
    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255)
    for c in range(10):
        idx = np.flatnonzero(d.target == c)
        n_train = (2 * len(idx)) // 3
        for j, i in enumerate(idx):
            write(out, "train" if j < n_train else "test", str(c), int(i), images[i])


def figure(kind, rng):
    """Points of one figure in a unit frame centred at 0 (before the random similarity transform)."""
    t = np.linspace(0, 1, 60)
    if kind == "circle":
        a = 2 * math.pi * t
        return [np.stack([np.cos(a), np.sin(a)], 1)]
    if kind in ("triangle", "square", "star"):
        n = {"triangle": 3, "square": 4, "star": 5}[kind]
        step = 2 if kind == "star" else 1
        a = [2 * math.pi * ((k * step) % n) / n - math.pi / 2 for k in range(n + 1)]
        return [np.array([[math.cos(v), math.sin(v)] for v in a])]
    if kind == "cross":
        return [np.array([[-1, -1], [1, 1]]), np.array([[-1, 1], [1, -1]])]
    if kind == "plus":
        return [np.array([[-1, 0], [1, 0]]), np.array([[0, -1], [0, 1]])]
    if kind == "zigzag":
        k = rng.integers(3, 6)
        x = np.linspace(-1, 1, 2 * k + 1)
        return [np.stack([x, np.where(np.arange(len(x)) % 2 == 0, -0.6, 0.6)], 1)]
    if kind == "spiral":
        a = 4 * math.pi * t
        r = 0.1 + 0.9 * t
        return [np.stack([r * np.cos(a), r * np.sin(a)], 1)]
    if kind == "arrow":
        return [np.array([[-1, 0], [1, 0]]), np.array([[0.4, -0.5], [1, 0], [0.4, 0.5]])]
    if kind == "wave":
        x = np.linspace(-1, 1, 60)
        return [np.stack([x, 0.5 * np.sin(x * math.pi * rng.uniform(1.5, 2.5))], 1)]
    raise ValueError(kind)


STROKE_KINDS = ["circle", "triangle", "square", "cross", "plus", "zigzag", "spiral", "star", "arrow", "wave"]


def densify(p, n=8):
    out = [p[0]]
    for a, b in zip(p[:-1], p[1:]):
        for s in range(1, n + 1):
            out.append(a + (b - a) * s / n)
    return np.array(out)


def strokes(out, n_train=200, n_test=100, side=28, seed=13):
    rng = np.random.default_rng(seed)
    scale_up = 4  # drawn at 4x and downsampled: smooth, anti-aliased strokes
    for cls in STROKE_KINDS:
        for i in range(n_train + n_test):
            big = Image.new("L", (side * scale_up, side * scale_up), 0)
            draw = ImageDraw.Draw(big)
            size = rng.uniform(0.45, 0.8) * side / 2
            angle = rng.uniform(-0.5, 0.5)
            aspect = rng.uniform(0.8, 1.25)
            cx, cy = side / 2 + rng.uniform(-3, 3), side / 2 + rng.uniform(-3, 3)
            width = int(rng.integers(2, 5) * scale_up / 2)
            shade = int(rng.integers(150, 256))
            rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
            for part in figure(cls, rng):
                p = densify(np.asarray(part, dtype=float))
                p = p + rng.normal(0, 0.04, p.shape).cumsum(0) * 0.5  # hand-like drift
                p = (p * [aspect, 1 / aspect]) @ rot.T * size + [cx, cy]
                draw.line([tuple(v) for v in p * scale_up], fill=shade, width=width, joint="curve")
            arr = np.asarray(big.resize((side, side), Image.BILINEAR))
            write(out, "train" if i < n_train else "test", cls, i, arr)


def colour(out, n_train=200, n_test=100, side=28, seed=26):
    rng = np.random.default_rng(seed)
    scale_up = 4

    def draw_figure(draw, kind, colour_, size_range, width_range):
        size = rng.uniform(*size_range) * side / 2
        angle = rng.uniform(-0.5, 0.5)
        aspect = rng.uniform(0.8, 1.25)
        cx, cy = side / 2 + rng.uniform(-3, 3), side / 2 + rng.uniform(-3, 3)
        width = int(rng.integers(*width_range) * scale_up / 2)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        for part in figure(kind, rng):
            p = densify(np.asarray(part, dtype=float))
            p = p + rng.normal(0, 0.04, p.shape).cumsum(0) * 0.5
            p = (p * [aspect, 1 / aspect]) @ rot.T * size + [cx, cy]
            draw.line([tuple(v) for v in p * scale_up], fill=colour_, width=width, joint="curve")

    for cls in STROKE_KINDS:
        for i in range(n_train + n_test):
            ground = tuple(int(v) for v in rng.integers(0, 256, 3))
            # The figure's colour at least 120 away from the ground's (sum of channel differences), so it stays visible.
            while True:
                ink = tuple(int(v) for v in rng.integers(0, 256, 3))
                if sum(abs(a - b) for a, b in zip(ink, ground)) >= 120:
                    break
            big = Image.new("RGB", (side * scale_up, side * scale_up), ground)
            draw = ImageDraw.Draw(big)
            clutter = tuple(int(g + (k - g) * 0.3) for g, k in zip(ground, rng.integers(0, 256, 3)))
            draw_figure(draw, STROKE_KINDS[int(rng.integers(0, 10))], clutter, (0.3, 0.9), (1, 3))
            draw_figure(draw, cls, ink, (0.45, 0.8), (2, 5))
            arr = np.asarray(big.resize((side, side), Image.BILINEAR))
            d = os.path.join(out, "train" if i < n_train else "test", cls)
            os.makedirs(d, exist_ok=True)
            Image.fromarray(arr, mode="RGB").save(os.path.join(d, f"{i:05d}.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=["digits", "strokes", "colour"], required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    {"digits": digits, "strokes": strokes, "colour": colour}[a.set](a.out)
    counts = {s: sum(len(f) for _, _, f in os.walk(os.path.join(a.out, s))) for s in ("train", "test")}
    print(f"wrote {counts['train']} train and {counts['test']} test images to {a.out}")


if __name__ == "__main__":
    main()
