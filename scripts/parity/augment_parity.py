#!/usr/bin/python3
"""Distribution-level parity of the augmentation, the PyTorch half: what torchvision (the reference's augmentation)
does, recorded as the fixture src/engine/augment-parity.test.ts holds tabclr's augment.ts to.

- views for fixed parameters: torchvision.transforms.functional resized_crop (antialias, as RandomResizedCrop), hflip,
  adjust_brightness and adjust_contrast in both orders, on 16 px grayscale and RGB images, for crops inside the
  image's border (see the test for the conversion of a pixel box to tabclr's crop box);
- RandomResizedCrop.get_params at 16 px, scale (0.2, 1), ratio (3/4, 4/3): the statistics of the crop's area and
  log aspect over 40,000 draws, and how often it falls back to the whole image.

  /usr/bin/python3 scripts/parity/augment_parity.py --out src/engine/fixtures/augment-parity.json
"""
import argparse
import base64
import json
import math

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as TF

SIZE = 16


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(5)
    cases = []
    # (i, j, h, w, flip, brightness, contrast, brightness first)
    params = [(1, 2, 9, 7, False, 1.3, 0.6, True), (3, 1, 12, 14, True, 0.5, 1.7, False), (2, 3, 11, 11, True, 1.8, 1.2, True),
              (1, 1, 14, 14, False, 0.9, 0.3, False), (4, 5, 7, 8, True, 1.0, 1.0, True)]
    for channels in (1, 3):
        for k, (i, j, h, w, flip, b, c, b_first) in enumerate(params):
            # A smooth image with edges: blurred noise plus a bright square, in [0, 1].
            img = rng.random((channels, SIZE, SIZE))
            img = (img + np.roll(img, 1, 1) + np.roll(img, 1, 2)) / 3
            img[:, 4 + k:9 + k, 3:8] = 0.95
            x = torch.tensor(img, dtype=torch.float32)
            cropped = TF.resized_crop(x, i, j, h, w, [SIZE, SIZE], antialias=True)
            if flip:
                cropped = TF.hflip(cropped)
            ops = [("brightness", b), ("contrast", c)] if b_first else [("contrast", c), ("brightness", b)]
            jittered = x
            for op, f in ops:
                jittered = TF.adjust_brightness(jittered, f) if op == "brightness" else TF.adjust_contrast(jittered, f)
            cases.append({
                "channels": channels, "crop": {"top": i, "left": j, "height": h, "width": w}, "flip": flip,
                "jitter": [{"op": op, "factor": f} for op, f in ops],
                "image": b64(img.transpose(1, 2, 0)),
                # The crop and flip alone, and the jitter alone on the whole image: the two are compared apart, since
                # torchvision's crop clamps at the crop's edge (see the test) and contrast reads the whole view's mean.
                "cropped": b64(cropped.numpy().transpose(1, 2, 0)),
                "jittered": b64(jittered.numpy().transpose(1, 2, 0)),
            })
    torch.manual_seed(0)
    img = torch.zeros(1, SIZE, SIZE)
    areas, aspects, whole = [], [], 0
    draws = 40000
    for _ in range(draws):
        i, j, h, w = T.RandomResizedCrop.get_params(img, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3))
        areas.append(h * w / SIZE ** 2)
        aspects.append(math.log(w / h))
        whole += h == SIZE and w == SIZE
    areas, aspects = np.array(areas), np.array(aspects)
    crop = {"draws": draws, "area_mean": float(areas.mean()), "area_sd": float(areas.std()), "log_aspect_mean": float(aspects.mean()),
            "log_aspect_sd": float(aspects.std()), "whole_image_share": whole / draws}
    with open(a.out, "w") as f:
        json.dump({"about": "torchvision's augmentation for fixed parameters and its crop statistics (scripts/parity/augment_parity.py)",
                   "torchvision": torchvision.__version__, "size": SIZE, "cases": cases, "crop": crop}, f)
    print(json.dumps(crop))


if __name__ == "__main__":
    main()
