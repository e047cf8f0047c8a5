"""What every step-level parity check shares, the PyTorch half (step_parity.py for SimCLR, moco_parity.py for MoCo
v2): reading the case a *-case.ts script wrote (the config, the two views, tabclr's initial weights as safetensors with
PyTorch names and layouts, tabclr's own results), loading weights into the reference networks (tabclr_model.py builds
them) name for name, comparing tensor by tensor in float32, printing the table, and writing the fixture a unit test
pins the engine to. A method's script adds only its heads, its loss and step, and what it compares.
"""
import argparse
import base64
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tabclr_model as tm  # noqa: E402

# float32 tolerances: |a - b| <= ATOL + RTOL * max|b| over the tensor.
RTOL, ATOL = 1e-4, 1e-6
# Several steps on the same views compound rounding: the losses over them are compared looser.
STEPS_RTOL = 1e-3


def decode(entry):
    return torch.from_numpy(np.frombuffer(base64.b64decode(entry["b64"]), dtype="<f4").copy()).view(*entry["shape"])


def encode(t):
    a = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
    return {"shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


def load_case(case_dir):
    """The case: case.json as written, tabclr's initial weights by PyTorch name, and the views as [2N, C, S, S]."""
    with open(os.path.join(case_dir, "case.json")) as f:
        case = json.load(f)
    torch.set_default_dtype(torch.float32)
    weights = tm.read_safetensors(os.path.join(case_dir, "initial.safetensors"))
    views = decode(case["views"]).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    return case, weights, views


def load_exactly(modules, weights):
    """The weights into the modules (each takes the names its state_dict has); every name of either must fit."""
    wanted = set().union(*(m.state_dict().keys() for m in modules))
    if wanted != set(weights):
        raise SystemExit(f"weights and model differ in names: {sorted(wanted ^ set(weights))}")
    for m in modules:
        m.load_state_dict({k: v for k, v in weights.items() if k in m.state_dict()}, strict=True)


def compare(name, ours, ref, rtol=RTOL):
    ours, ref = ours.double(), ref.double()
    scale = ref.abs().max().item() if ref.numel() else 0.0
    err = (ours - ref).abs().max().item() if ref.numel() else 0.0
    return {"tensor": name, "max_abs_err": err, "max_abs": scale, "rel": err / scale if scale else err, "ok": err <= ATOL + rtol * scale}


def compare_all(rows, what, ours, ref, rtol=RTOL):
    """One row per tensor of ref (a dict by name), tabclr's from the case's encoded dict of the same names."""
    for k, v in ref.items():
        rows.append(compare(f"{what} {k}", decode(ours[k]), v, rtol))
    return rows


def main(doc, run, rows_of, reference_of, about):
    """The command line every check has: --case DIR [--fixture FILE] [--json]. `run(case_dir)` gives (case, weights,
    ref) from PyTorch, `rows_of(case, ref, case_dir)` the comparison table, `reference_of(ref)` what the fixture keeps of
    ref. Exit code 1 when anything is outside tolerance."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", required=True)
    ap.add_argument("--fixture")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    case, weights, ref = run(a.case)
    t = case["tabclr"]
    rows = rows_of(case, ref, a.case)
    ok = all(r["ok"] for r in rows)
    if a.json:
        print(json.dumps({"ok": ok, "rows": rows, "loss": ref["loss"], "losses": ref["losses"]}))
    else:
        width = max(len(r["tensor"]) for r in rows)
        for r in rows:
            print(f"{'ok ' if r['ok'] else 'BAD'} {r['tensor']:<{width}} max|err| {r['max_abs_err']:.3e}  max|ref| {r['max_abs']:.3e}  rel {r['rel']:.2e}")
        print(f"loss: tabclr {t['loss']:.7f}, PyTorch {ref['loss']:.7f}; after {len(ref['losses'])} steps: "
              f"tabclr {t['losses'][-1]:.6f}, PyTorch {ref['losses'][-1]:.6f}")
    if a.fixture:
        fixture = {
            "about": about + " Tensors are little-endian float32, base64, PyTorch layouts.",
            "torch": torch.__version__,
            "config": case["config"],
            "views": case["views"],
            "initial": {k: encode(v) for k, v in weights.items()},
            "reference": reference_of(ref),
        }
        with open(a.fixture, "w") as f:
            json.dump(fixture, f)
        print(f"wrote {a.fixture}", file=sys.stderr)
    return 0 if ok else 1
