#!/usr/bin/python3
"""Decoding parity, the PIL half: what PIL's bilinear resize gives for 8-bit images, recorded as the fixture
src/data/resample.test.ts holds tabclr's src/data/resample.ts to, bit for bit.

PIL's `Image.resize(size, Image.BILINEAR)` is what the reference (../shared/reference/ref_simclr.py) and torchvision's
`Resize` on PIL images feed a model: a triangle filter widened by the scale when shrinking (so every source pixel
counts), in fixed point, one pass per axis with 8-bit rounding in between. Each case here is an image of seeded
noise with edges, thin lines and flat areas, cropped to its centred square as tabclr crops (`centreSquare`:
the offset rounds down), then resized; shrinking by less than 2, by much more, not at all, and enlarging.

  /usr/bin/python3 scripts/parity/pil_resize_fixture.py --out src/data/fixtures/pil-bilinear.json
"""
import argparse
import base64
import json

import numpy as np
import PIL
from PIL import Image


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()


def picture(rng, width, height, channels):
    """Noise over a gradient, a filled rectangle and one-pixel lines: what makes filters differ."""
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 255 // max(1, width - 1) + y * 97 // max(1, height - 1)) % 256
    img = np.repeat(base[:, :, None], channels, axis=2).astype(np.int32)
    img += rng.integers(-40, 41, size=img.shape)
    img[height // 4: height // 2, width // 3: 2 * width // 3] = rng.integers(0, 256, size=channels)
    img[:, width // 2] = 255
    img[height // 3, :] = 0
    return np.clip(img, 0, 255).astype(np.uint8)


def centre_square(width, height):
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(13)
    cases = []
    # (width, height, channels, size): 28 → 16 is the parity sets' case; 33 → 32 shrinks by less than 2 (the filter
    # is only just widened); 150 × 100 → 14 by 7; 16 → 16 is a copy; 5 → 16 and 7 → 9 enlarge; a wide and a
    # tall image are cropped first.
    for width, height, channels, size in [(28, 28, 1, 16), (28, 28, 3, 16), (37, 23, 3, 16), (33, 33, 1, 32),
                                          (150, 100, 3, 14), (16, 16, 3, 16), (5, 7, 3, 16), (7, 9, 1, 9),
                                          (61, 100, 1, 7)]:
        pixels = picture(rng, width, height, channels)
        sx, sy, side = centre_square(width, height)
        mode = "L" if channels == 1 else "RGB"
        im = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)
        out = np.asarray(im.crop((sx, sy, sx + side, sy + side)).resize((size, size), Image.BILINEAR))
        cases.append({"width": width, "height": height, "channels": channels, "size": size,
                      "pixels": b64(pixels), "expected": b64(out)})
    with open(a.out, "w") as f:
        json.dump({"pil": PIL.__version__, "cases": cases}, f)
    print(f"wrote {len(cases)} cases to {a.out} (PIL {PIL.__version__})")


if __name__ == "__main__":
    main()
