#!/usr/bin/python3
"""Step-level parity for MoCo v2, the PyTorch half. Reads a case written by scripts/parity/moco-case.ts (tabclr's
initial query network, key network and queue as safetensors with PyTorch names and layouts, the two views, the key
shuffles of each step, the config, and tabclr's own results), runs MoCo v2 in PyTorch as its authors' single-GPU demo
does (moco_cifar10_demo.ipynb: symmetrised loss, SplitBatchNorm in both networks, the keys' batch shuffled before the
key network and unshuffled after, both views' keys enqueued), with tabclr's layers, batch norm and AdamW
(tabclr_model.py), and prints, tensor by tensor, how far tabclr is from it: the queries, the loss over the initial
queue, every gradient, the query network after one update, the key network after its momentum update, the queue after
the enqueue and dequeue, and the loss over the case's steps.

  /usr/bin/python3 scripts/parity/moco_parity.py --case DIR [--fixture FILE] [--json]

The reference's order within a step (momentum update, key forward, loss, backward, update, enqueue) is the same
computation as tabclr's (key forward, loss, backward, update, momentum update, enqueue): the momentum update of step t
uses the query weights after update t - 1 either way, and at step 1 it is a no-op on a copy. Exit code 1 when anything
is outside float32 tolerance.
"""
import argparse
import base64
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tabclr_model as tm  # noqa: E402

RTOL, ATOL = 1e-4, 1e-6
# Several steps on the same views compound rounding: compared looser.
LOSS_RTOL_STEPS = 1e-3


def decode(entry):
    return torch.from_numpy(np.frombuffer(base64.b64decode(entry["b64"]), dtype="<f4").copy()).view(*entry["shape"])


def encode(t):
    a = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
    return {"shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


class MocoHead(nn.Module):
    """MoCo v2's head: Linear(h, hidden) -> ReLU -> Linear(hidden, d), both with a bias (tabclr's head1_dense, ...)."""

    def __init__(self, widths):
        super().__init__()
        self.names = []
        for i in range(len(widths) - 1):
            setattr(self, f"head{i + 1}_dense", nn.Linear(widths[i], widths[i + 1]))
            self.names.append(f"head{i + 1}_dense")

    def forward(self, x):
        for i, name in enumerate(self.names):
            x = getattr(self, name)(x)
            if i < len(self.names) - 1:
                x = F.relu(x)
        return x


def group_sizes(n, groups):
    g = max(1, min(groups, n // 2))
    return [n // g + (1 if i < n % g else 0) for i in range(g)]


def grouped(net, x, groups):
    """SplitBatchNorm: each group through the network on its own, so that batch norm takes its statistics per group."""
    return torch.cat([net(part) for part in torch.split(x, group_sizes(x.shape[0], groups))])


def info_nce(q, k, queue, tau):
    qn = tm.l2_normalize(q)
    pos = (qn * k).sum(-1, keepdim=True)
    logits = torch.cat([pos, qn @ queue.t()], 1) / tau
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


def target_momentum(base, step, total):
    return 1 - (1 - base) * (math.cos(math.pi * min(step, total) / max(1, total)) + 1) / 2


def prefixed(weights, prefix):
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


def run(case_dir):
    with open(os.path.join(case_dir, "case.json")) as f:
        case = json.load(f)
    config = case["config"]
    method = config["method"]
    tau, groups, base_m = method["temperature"], method["bnGroups"], method["keyMomentum"]
    torch.set_default_dtype(torch.float32)
    weights = tm.read_safetensors(os.path.join(case_dir, "initial.safetensors"))
    encoder = tm._tfjs_batch_norms(tm.tabclr_torch.build_encoder(config["model"]))
    h = encoder.representation_dim
    d = config["model"]["projectionDim"]
    hidden = max(h, d) if config["model"]["headHidden"] == "atLeastProjection" else h
    head = MocoHead([h] + [hidden] * (config["model"]["headLayers"] - 1) + [d])
    key_encoder, key_head = copy.deepcopy(encoder), copy.deepcopy(head)
    own = {k: v for k, v in weights.items() if not k.startswith(("key_encoder.", "key_projection_head.", "queue."))}
    encoder.load_state_dict({k: v for k, v in own.items() if k in encoder.state_dict()}, strict=True)
    head.load_state_dict({k: v for k, v in own.items() if k in head.state_dict()}, strict=True)
    key_encoder.load_state_dict(prefixed(weights, "key_encoder."), strict=True)
    key_head.load_state_dict(prefixed(weights, "key_projection_head."), strict=True)
    if set(own) != set(encoder.state_dict()) | set(head.state_dict()):
        raise SystemExit(f"weights and model differ in names: {sorted(set(own) ^ (set(encoder.state_dict()) | set(head.state_dict())))}")
    queue = weights["queue.keys"].clone()
    written = weights["queue.written_at"].clone()
    pointer = int(weights["queue.pointer"].item())
    K = queue.shape[0]

    views = decode(case["views"]).permute(0, 3, 1, 2).contiguous()
    n = views.shape[0] // 2
    v1, v2 = views[:n], views[n:]
    query = lambda x: head(encoder(x))  # noqa: E731
    key = lambda x: key_head(key_encoder(x))  # noqa: E731

    def keys_of(v, perm):
        perm = torch.tensor(perm)
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(n)
        return tm.l2_normalize(grouped(key, v[perm], groups)[inverse])

    # The queries of step 1 on copies, so that the statistics of the step start as initialised.
    e2, h2 = copy.deepcopy(encoder), copy.deepcopy(head)
    with torch.no_grad():
        q_first = torch.cat([grouped(lambda x: h2(e2(x)), v1, groups), grouped(lambda x: h2(e2(x)), v2, groups)])

    encoder.train(); head.train(); key_encoder.train(); key_head.train()
    named = list(encoder.named_parameters()) + list(head.named_parameters())
    opt = tm.AdamW(named, config["optim"]["weightDecay"])
    total = config["optim"]["totalSteps"]
    losses, accs, ages = [], [], []
    out = {}
    for step, (perm1, perm2) in enumerate(case["shuffles"]):
        for _, p in named:
            p.grad = None
        q1, q2 = grouped(query, v1, groups), grouped(query, v2, groups)
        with torch.no_grad():
            k1, k2 = keys_of(v1, perm1), keys_of(v2, perm2)
        loss = (info_nce(q1, k2, queue, tau) + info_nce(q2, k1, queue, tau)) / 2
        with torch.no_grad():
            def acc(q, k):
                qn = tm.l2_normalize(q)
                return ((qn * k).sum(-1) >= (qn @ queue.t()).max(1).values).float().mean()
            accs.append(((acc(q1, k2) + acc(q2, k1)) / 2).item())
            ages.append(step + 1 - written.min().item())
        loss.backward()
        if step == 0:
            out["loss"] = loss.item()
            out["grads"] = {k: p.grad.clone() for k, p in named}
        opt.step(case["learningRates"][step])
        losses.append(loss.item())
        with torch.no_grad():
            m = target_momentum(base_m, step + 1, total)
            for q_net, k_net in ((encoder, key_encoder), (head, key_head)):
                qs = q_net.state_dict()
                for name, kv in k_net.state_dict().items():
                    kv.copy_(kv * m + qs[name] * (1 - m))
            new = torch.cat([k1, k2])[-K:]
            for j in range(new.shape[0]):
                queue[(pointer + j) % K] = new[j]
                written[(pointer + j) % K] = step + 1
            pointer = (pointer + new.shape[0]) % K
        if step == 0:
            out["afterOne"] = snapshot(encoder, head, key_encoder, key_head, queue, written, pointer)
    out.update({"q": q_first, "losses": losses, "positiveAcc": accs, "queueAge": ages,
                "final": snapshot(encoder, head, key_encoder, key_head, queue, written, pointer)})
    return case, weights, out


def snapshot(encoder, head, key_encoder, key_head, queue, written, pointer):
    s = {k: v.clone() for k, v in {**encoder.state_dict(), **head.state_dict()}.items()}
    s.update({f"key_encoder.{k}": v.clone() for k, v in key_encoder.state_dict().items()})
    s.update({f"key_projection_head.{k}": v.clone() for k, v in key_head.state_dict().items()})
    s.update({"queue.keys": queue.clone(), "queue.written_at": written.clone(), "queue.pointer": torch.tensor([float(pointer)])})
    return s


def compare(name, ours, ref, rtol=RTOL):
    ours, ref = ours.double(), ref.double()
    scale = ref.abs().max().item() if ref.numel() else 0.0
    err = (ours - ref).abs().max().item() if ref.numel() else 0.0
    return {"tensor": name, "max_abs_err": err, "max_abs": scale, "rel": err / scale if scale else err, "ok": err <= ATOL + rtol * scale}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", required=True)
    ap.add_argument("--fixture")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    case, weights, ref = run(a.case)
    t = case["tabclr"]
    rows = [compare("queries q of step 1", decode({"shape": t["queries"]["shape"], "b64": t["queries"]["q"]}), ref["q"]),
            compare("loss over the initial queue", torch.tensor([t["loss"]]), torch.tensor([ref["loss"]]))]
    for k, g in ref["grads"].items():
        rows.append(compare(f"grad {k}", decode(t["grads"][k]), g))
    for k, v in ref["afterOne"].items():
        rows.append(compare(f"after 1 step {k}", decode(t["afterOne"][k]), v))
    steps = len(ref["losses"])
    rows.append(compare(f"losses over {steps} steps", torch.tensor(t["losses"]), torch.tensor(ref["losses"]), LOSS_RTOL_STEPS))
    rows.append(compare(f"positive accuracy over {steps} steps", torch.tensor(t["positiveAcc"]), torch.tensor(ref["positiveAcc"])))
    rows.append(compare(f"queue age over {steps} steps", torch.tensor(t["queueAge"]), torch.tensor(ref["queueAge"])))
    for k in ("queue.keys", "queue.written_at", "queue.pointer"):
        rows.append(compare(f"after {steps} steps {k}", decode(t["final"][k]), ref["final"][k], LOSS_RTOL_STEPS))
    ok = all(r["ok"] for r in rows)
    if a.json:
        print(json.dumps({"ok": ok, "rows": rows, "loss": ref["loss"], "losses": ref["losses"]}))
    else:
        for r in rows:
            print(f"{'ok ' if r['ok'] else 'BAD'} {r['tensor']:<60} max|err| {r['max_abs_err']:.3e}  max|ref| {r['max_abs']:.3e}  rel {r['rel']:.2e}")
        print(f"loss: tabclr {t['loss']:.7f}, PyTorch {ref['loss']:.7f}; after {steps} steps: tabclr {t['losses'][-1]:.6f}, PyTorch {ref['losses'][-1]:.6f}")
    if a.fixture:
        fixture = {
            "about": "MoCo v2 step-level parity fixture: tabclr's case (scripts/parity/moco-case.ts) and what PyTorch computes from it "
                     "(scripts/parity/moco_parity.py). Tensors are little-endian float32, base64, PyTorch layouts.",
            "torch": torch.__version__,
            "config": case["config"],
            "views": case["views"],
            "initial": {k: encode(v) for k, v in weights.items()},
            "reference": {
                "q": encode(ref["q"]), "loss": ref["loss"],
                "grads": {k: encode(v) for k, v in ref["grads"].items()},
                "afterOne": {k: encode(v) for k, v in ref["afterOne"].items()},
                "losses": ref["losses"], "positiveAcc": ref["positiveAcc"], "queueAge": ref["queueAge"],
                "final": {k: encode(ref["final"][k]) for k in ("queue.keys", "queue.written_at", "queue.pointer")},
            },
        }
        with open(a.fixture, "w") as f:
            json.dump(fixture, f)
        print(f"wrote {a.fixture}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
