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
uses the query weights after update t - 1 either way, and at step 1 it is a no-op on a copy. What every check shares
(reading the case, comparing, the fixture) is in parity_case.py. Exit code 1 when anything is outside float32
tolerance.
"""
import copy
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parity_case as pc  # noqa: E402
import tabclr_model as tm  # noqa: E402


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
    case, weights, views = pc.load_case(case_dir)
    config = case["config"]
    method = config["method"]
    tau, groups, base_m = method["temperature"], method["bnGroups"], method["keyMomentum"]
    encoder = tm.build_encoder(config)
    h = encoder.representation_dim
    d = config["model"]["projectionDim"]
    hidden = max(h, d) if config["model"]["headHidden"] == "atLeastProjection" else h
    head = MocoHead([h] + [hidden] * (config["model"]["headLayers"] - 1) + [d])
    key_encoder, key_head = copy.deepcopy(encoder), copy.deepcopy(head)
    own = {k: v for k, v in weights.items() if not k.startswith(("key_encoder.", "key_projection_head.", "queue."))}
    pc.load_exactly([encoder, head], own)
    pc.load_exactly([key_encoder], prefixed(weights, "key_encoder."))
    pc.load_exactly([key_head], prefixed(weights, "key_projection_head."))
    queue = weights["queue.keys"].clone()
    written = weights["queue.written_at"].clone()
    pointer = int(weights["queue.pointer"].item())
    K = queue.shape[0]

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


def rows(case, ref, case_dir):
    t = case["tabclr"]
    table = [pc.compare("queries q of step 1", pc.decode({"shape": t["queries"]["shape"], "b64": t["queries"]["q"]}), ref["q"]),
             pc.compare("loss over the initial queue", torch.tensor([t["loss"]]), torch.tensor([ref["loss"]]))]
    pc.compare_all(table, "grad", t["grads"], ref["grads"])
    pc.compare_all(table, "after 1 step", t["afterOne"], ref["afterOne"])
    steps = len(ref["losses"])
    table.append(pc.compare(f"losses over {steps} steps", torch.tensor(t["losses"]), torch.tensor(ref["losses"]), pc.STEPS_RTOL))
    table.append(pc.compare(f"positive accuracy over {steps} steps", torch.tensor(t["positiveAcc"]), torch.tensor(ref["positiveAcc"])))
    table.append(pc.compare(f"queue age over {steps} steps", torch.tensor(t["queueAge"]), torch.tensor(ref["queueAge"])))
    pc.compare_all(table, f"after {steps} steps", t["final"], {k: ref["final"][k] for k in QUEUE}, pc.STEPS_RTOL)
    return table


QUEUE = ("queue.keys", "queue.written_at", "queue.pointer")


def reference_of(ref):
    return {
        "q": pc.encode(ref["q"]), "loss": ref["loss"],
        "grads": {k: pc.encode(v) for k, v in ref["grads"].items()},
        "afterOne": {k: pc.encode(v) for k, v in ref["afterOne"].items()},
        "losses": ref["losses"], "positiveAcc": ref["positiveAcc"], "queueAge": ref["queueAge"],
        "final": {k: pc.encode(ref["final"][k]) for k in QUEUE},
    }


if __name__ == "__main__":
    sys.exit(pc.main(__doc__, run, rows, reference_of,
                     "MoCo v2 step-level parity fixture: tabclr's case (scripts/parity/moco-case.ts) and what PyTorch computes from it "
                     "(scripts/parity/moco_parity.py)."))
