#!/usr/bin/python3
"""The statistics of tabclr's augmented views against torchvision's for the same images: what makes the pretext task
easier or harder, measured on the views themselves. Reads runs scripts/parity/dump-run.ts wrote (the engine's views of
each step's batch) and makes torchvision's views of the same batches with the reference's augmentation
(RandomResizedCrop(scale 0.2-1, antialias), RandomHorizontalFlip(0.5), RandomApply([ColorJitter(brightness 0.8,
contrast 0.8)], p=0.8) on float tensors, as ref_simclr.py --gray-jitter 0.8,0.8,0.8 does).

  /usr/bin/python3 scripts/parity/view_stats.py --pixels PREFIX --replay RUN [RUN ...] [--seed 0]

--pixels is folder_pixels.py's output for the same train folder (the images the batches index). Prints one JSON line
per side: the mean pixel, each view's own spread, the spread of views' means, the share of pixels at 0 and at 1 (what
the clipping of the jitter leaves), and for the two views of an image their correlation, cosine and mean |difference|.
"""
import argparse
import json

import numpy as np
import torch
import torchvision.transforms as T


def stats(pairs):
    """pairs: [n, 2, values] of views in [0, 1]."""
    a, b = pairs[:, 0], pairs[:, 1]
    views = pairs.reshape(-1, pairs.shape[-1])

    def centred(x):
        return x - x.mean(-1, keepdims=True)

    def cos(p, q):
        return (p * q).sum(-1) / np.sqrt((p * p).sum(-1) * (q * q).sum(-1) + 1e-12)

    return {
        "pairs": len(pairs),
        "mean": round(float(views.mean()), 4),
        "sd_within_view": round(float(views.std(-1).mean()), 4),
        "sd_of_view_means": round(float(views.mean(-1).std()), 4),
        "share_at_0": round(float(np.mean(views <= 0)), 4),
        "share_at_1": round(float(np.mean(views >= 1)), 4),
        "pair_correlation": round(float(np.nanmean(cos(centred(a), centred(b)))), 4),
        "pair_cosine": round(float(np.nanmean(cos(a, b))), 4),
        "pair_mean_abs_difference": round(float(np.abs(a - b).mean()), 4),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pixels", required=True)
    ap.add_argument("--replay", nargs="+", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with open(a.pixels + ".json") as f:
        meta = json.load(f)
    size, ch = meta["size"], meta["channels"]
    pixels = np.fromfile(a.pixels + ".train.u8", dtype=np.uint8).reshape(-1, size, size, ch)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255)
    torch.manual_seed(a.seed)
    aug = T.Compose([T.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True), T.RandomHorizontalFlip(0.5),
                     T.RandomApply([T.ColorJitter(brightness=0.8, contrast=0.8)], p=0.8)])
    tabclr, torchvision = [], []
    for run in a.replay:
        with open(run + ".json") as f:
            rec = json.load(f)
        if (rec["size"], rec["channels"], rec["train"]) != (size, ch, len(images)):
            raise SystemExit(f"{run}: recorded for {rec['train']} images of {rec['size']} px, {rec['channels']} channels; --pixels has {len(images)} of {size} px, {ch}")
        steps, batch = rec["steps"], rec["batch"]
        batches = np.fromfile(run + ".batches.i32", dtype="<i4").reshape(steps, batch)
        views = np.fromfile(run + ".views.f32", dtype="<f4").reshape(steps, 2, batch, -1)  # view 1's images first
        tabclr.append(views.transpose(0, 2, 1, 3).reshape(steps * batch, 2, -1))
        for idx in batches:
            for i in idx:
                torchvision.append(np.stack([aug(images[i]).permute(1, 2, 0).reshape(-1).numpy() for _ in range(2)]))
    for side, pairs in (("torchvision", np.stack(torchvision)), ("tabclr", np.concatenate(tabclr))):
        print(json.dumps({"views": side, **stats(pairs)}))


if __name__ == "__main__":
    main()
