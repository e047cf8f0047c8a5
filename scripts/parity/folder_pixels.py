#!/usr/bin/python3
"""A labelled train/test pair of folders as the PyTorch reference loads them (its own load_split: PIL decode,
bilinear resize to --size, grayscale when every image is), written as uint8 NHWC bytes plus a JSON description.

The engine mode of `npm run bench:parity` trains tabclr on exactly these pixels, so that the comparison with the
reference isolates the engine; the page mode lets the browser decode the files, and `--compare-decoded` measures how
far its pixels are from these.

  /usr/bin/python3 scripts/parity/folder_pixels.py --train DIR --test DIR --size 16 --out PREFIX
writes PREFIX.json ({classes, channels, size, train: {count, labels, names}, test: {...}}), PREFIX.train.u8 and
PREFIX.test.u8.
"""
import argparse
import json
import os

import numpy as np

from reference_path import load_reference


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--color", choices=["auto", "gray", "rgb"], default="auto")
    ap.add_argument("--out", required=True, help="output prefix")
    a = ap.parse_args()
    ref = load_reference()
    classes, xtr, ytr, xte, yte, gray, size, n_bad = ref.load_split(a.train, a.test, a.size, a.color)
    _, tr_items = ref.list_folder(a.train)
    _, te_items = ref.list_folder(a.test)

    def split(x, y, items, name):
        # x is float in [0, 1] from uint8 / 255: multiplying back is exact.
        u8 = np.rint(x.numpy() * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)
        with open(f"{a.out}.{name}.u8", "wb") as f:
            f.write(np.ascontiguousarray(u8).tobytes())
        kept = [os.path.relpath(p, a.train if name == "train" else a.test) for p, c in items if c in classes]
        return {"count": int(len(x)), "labels": [int(v) for v in y], "names": kept if len(kept) == len(x) else None}

    meta = {
        "classes": classes, "channels": 1 if gray else 3, "size": size, "unreadable": n_bad,
        "train": split(xtr, ytr, tr_items, "train"), "test": split(xte, yte, te_items, "test"),
    }
    with open(f"{a.out}.json", "w") as f:
        json.dump(meta, f)
    print(json.dumps({k: meta[k] for k in ("classes", "channels", "size", "unreadable")}))


if __name__ == "__main__":
    main()
