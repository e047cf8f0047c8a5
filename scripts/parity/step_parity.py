#!/usr/bin/python3
"""Step-level parity, the PyTorch half. Reads a case written by scripts/parity/step-case.ts (tabclr's initial
weights as safetensors with PyTorch names and layouts, the two views, the config, and tabclr's own results), runs
the same computation in PyTorch (tabclr_model.py: tabclr's model, loss and AdamW, op for op), and prints, tensor by
tensor, how far tabclr is from it: the forward pass (h and z in training mode), the loss, every gradient, the weights
and batch-norm statistics after one update, and the loss over 50 steps on the same views. What every check shares
(reading the case, comparing, the fixture) is in parity_case.py.

  /usr/bin/python3 scripts/parity/step_parity.py --case DIR [--fixture FILE] [--json]

--fixture writes the case's inputs and the PyTorch results as the JSON fixture src/engine/parity.test.ts reads.
Exit code 1 when anything is outside float32 tolerance.
"""
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity_case as pc  # noqa: E402
import tabclr_model as tm  # noqa: E402

# The dense layer's bias on h when no ReLU follows it: see rows().
ILL_CONDITIONED = "representation.bias"


def state_of(encoder, head):
    return {**encoder.state_dict(), **head.state_dict()}


def run(case_dir):
    case, weights, views = pc.load_case(case_dir)
    config = case["config"]
    encoder, head = tm.build(config)
    pc.load_exactly([encoder, head], weights)
    n = views.shape[0] // 2
    tau = config["method"]["temperature"] if "method" in config else config["temperature"]

    # Forward on copies, so that the batch-norm statistics of the step start as initialised.
    e2, h2 = copy.deepcopy(encoder), copy.deepcopy(head)
    e2.train(); h2.train()
    with torch.no_grad():
        h = e2(views)
        z = h2(h)

    encoder.train(); head.train()
    named = list(encoder.named_parameters()) + list(head.named_parameters())
    opt = tm.AdamW(named, config["optim"]["weightDecay"])
    losses, grads, after_one = [], None, None
    for step in range(len(case["learningRates"])):
        for _, p in named:
            p.grad = None
        zz = head(encoder(views))
        loss = tm.nt_xent(zz[:n], zz[n:], tau)
        loss.backward()
        if step == 0:
            grads = {k: p.grad.clone() for k, p in named}
            first_loss = loss.item()
        opt.step(tm.learning_rate_at(step, config["optim"]))
        losses.append(loss.item())
        if step == 0:
            after_one = {k: v.clone() for k, v in state_of(encoder, head).items()}
    final = {k: v.clone() for k, v in state_of(encoder, head).items()}
    return case, weights, {"h": h, "z": z, "loss": first_loss, "grads": grads, "afterOne": after_one, "losses": losses, "final": final}


def rows(case, ref, case_dir):
    t = case["tabclr"]
    fw = t["forward"]
    table = [pc.compare("forward h", pc.decode({"shape": fw["hShape"], "b64": fw["h"]}), ref["h"]),
             pc.compare("forward z", pc.decode({"shape": fw["zShape"], "b64": fw["z"]}), ref["z"]),
             pc.compare("loss", torch.tensor([t["loss"]]), torch.tensor([ref["loss"]]))]
    pc.compare_all(table, "grad", t["grads"], ref["grads"])
    initial = tm.read_safetensors(os.path.join(case_dir, "initial.safetensors"))
    for k, v in ref["afterOne"].items():
        r = pc.compare(f"after 1 update {k}", pc.decode(t["afterOne"][k]), v)
        if k == ILL_CONDITIONED:
            # Its gradient is zero in exact arithmetic (a constant shift of h that the head's batch norm removes): both
            # sides hold rounding noise there, which Adam scales to steps of up to lr. Judged by that bound instead.
            lr0 = case["learningRates"][0]
            moved = (pc.decode(t["afterOne"][k]) - initial[k]).abs().max().item()
            r["tensor"] += f" (moved {moved:.2e} <= lr {lr0:.1e})"
            r["ok"] = moved <= lr0 * (1 + 1e-3)
        table.append(r)
    steps = len(ref["losses"])
    table.append(pc.compare(f"losses over {steps} steps", torch.tensor(t["losses"]), torch.tensor(ref["losses"]), pc.STEPS_RTOL))
    # After 50 steps the weights are shown, not judged: the representation's bias (above) random-walks differently on
    # each side, and what depends on it (the head's first batch-norm mean) follows.
    for r in pc.compare_all([], f"after {steps} steps", t["final"], ref["final"], pc.STEPS_RTOL * 10):
        r["ok"] = True
        table.append(r)
    return table


def reference_of(ref):
    return {
        "h": pc.encode(ref["h"]), "z": pc.encode(ref["z"]), "loss": ref["loss"],
        "grads": {k: pc.encode(v) for k, v in ref["grads"].items()},
        "afterOne": {k: pc.encode(v) for k, v in ref["afterOne"].items()},
        "losses": ref["losses"],
    }


if __name__ == "__main__":
    sys.exit(pc.main(__doc__, run, rows, reference_of,
                     "Step-level parity fixture: tabclr's case (scripts/parity/step-case.ts) and what PyTorch computes from it "
                     "(scripts/parity/step_parity.py, tabclr_model.py)."))
