"""Continue training a tabclr model on a cluster: PyTorch DistributedDataParallel, from a tabclr zip to a tabclr zip.

    torchrun --nproc_per_node 8 scripts/cluster/train_ddp.py --model tabclr-convnet4-step300.zip \\
        --data /data/photos --steps 10000 --out tabclr-convnet4-continued.zip

An example on top of PyTorch, not a second trainer: the tab stays the reference implementation. It starts from the
zip's weights (encoder, and projection head when the zip has one) and follows the zip's recipe (config.json's training:
augmentation, optimiser, learning rate, warm-up, temperature, global batch, seed) on a folder of images, with a new
optimiser and a new warm-up + cosine schedule over --steps, as the tab does when it trains on from a loaded model. It
writes a zip in tabclr's format (encoder/model.json and its shard, projection_head/ when there is a head,
weights.safetensors, config.json with the step advanced, README.md, tabclr_torch.py) that the page's "Load model"
takes back; there, "Download weights" adds encoder.onnx.

One process per device: torchrun starts them. GPUs use the NCCL backend and synchronised batch norm; CPUs use gloo and
per-process batch norm statistics (PyTorch's SyncBatchNorm needs GPUs). Every process takes batch / processes images a
step; the contrastive loss of each image sees the other views of the whole global batch (embeddings are gathered
across processes, gradients flow back through the gather), as with one device. Run without torchrun, it is one process.

Where it differs from the tab, by construction: torchvision's augmentation (the same recipe: random resized crop, flip,
colour jitter in random order, grayscale, blur), PIL's decoding (the resize is the tab's: PIL's bilinear, which the
tab reproduces), PyTorch's running variance (unbiased) where tfjs keeps the biased one, and batch-norm statistics per
process on CPUs.

Needs torch and torchvision (Debian: python3-torch python3-torchvision). It imports tabclr_torch.py from this
repository (src/export/python/).
"""

import argparse
import datetime
import io
import json
import math
import os
import sys
import zipfile

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "export", "python"))
import tabclr_torch  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")

# The recipe fields this script follows (src/engine/config.ts); a field it does not know is refused, not ignored.
# Configs written before tabclr had several methods have a top-level temperature instead of a method: SimCLR.
TRAINING_FIELDS = {"method", "model", "augment", "optim", "batchSize", "seed"}
SIMCLR_FIELDS = {"name", "temperature"}
AUGMENT_FIELDS = {
    "cropAreaMin", "cropAreaMax", "aspectMin", "aspectMax", "flipProb", "jitterProb", "brightness", "contrast",
    "saturation", "hue", "grayscaleProb", "blurProb", "blurSigmaMin", "blurSigmaMax",
}
OPTIM_FIELDS = {"optimizer", "learningRate", "momentum", "weightDecay", "warmupSteps", "totalSteps"}
# Kingma & Ba; LARS's trust coefficient as google-research/simclr (src/engine/optim.ts).
ADAM_BETAS, ADAM_EPS, LARS_EETA = (0.9, 0.999), 1e-8, 0.001
# BN parameters and biases get no weight decay and no LARS adaptation (src/engine/optim.ts, isExcludedFromDecay).
EXCLUDED_PARTS = ("batch_normalization", "/bn", "bn_", "_bn", "gamma", "beta", "moving_")


class RecipeError(ValueError):
    pass


def check_recipe(training):
    """config.json's training section as this script can follow it (a legacy one brought to today's form), or
    RecipeError with what it cannot follow."""
    if "method" not in training and "temperature" in training:
        training["method"] = {"name": "simclr", "temperature": training.pop("temperature")}
    method = training.get("method")
    if isinstance(method, dict) and method.get("name") == "moco":
        # A download holds the query encoder and head only: MoCo's key network and queue live in the tab's checkpoints.
        raise RecipeError("it was trained with 'moco': a download holds neither its key network nor its queue of keys, "
                          "so no script can continue it as the same run; this script trains SimCLR only (continue it in the tab)")
    if isinstance(method, dict) and method.get("name") != "simclr":
        raise RecipeError(f"it was trained with {method.get('name')!r}; this script trains SimCLR only (continue it in the tab)")
    for section, known in (
        ("training", TRAINING_FIELDS),
        ("training.method", SIMCLR_FIELDS),
        ("training.augment", AUGMENT_FIELDS),
        ("training.optim", OPTIM_FIELDS),
    ):
        given = training if section == "training" else training.get(section.split(".")[1])
        if not isinstance(given, dict):
            raise RecipeError(f"config.json has no {section} object")
        unknown = sorted(set(given) - known)
        missing = sorted(known - set(given))
        if unknown or missing:
            raise RecipeError(
                f"config.json's {section} {'has ' + ', '.join(unknown) if unknown else ''}"
                f"{' and ' if unknown and missing else ''}{'lacks ' + ', '.join(missing) if missing else ''}: this script "
                "follows the recipe of its own tabclr version; a recipe it cannot follow is refused rather than changed"
            )
    options = tabclr_torch.model_options(training["model"])
    if options["entropyWeight"] > 0:
        raise RecipeError("the recipe uses the entropy regulariser (model.entropyWeight > 0), which this script does not implement")
    if training["optim"]["optimizer"] not in ("adam", "sgd", "lars"):
        raise RecipeError(f"unknown optimiser {training['optim']['optimizer']!r} (adam, sgd or lars)")
    return options


# ---- Data ----------------------------------------------------------------------------------------------------------


def image_files(folder):
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")]
    return found


def centred_square(path, size, channels):
    """The centred square of the image, resized to size x size as the tab imports it (PIL's bilinear: src/data/resample.ts
    gives the same pixels); transparent pixels on white."""
    from PIL import Image

    with Image.open(path) as image:
        image.seek(0)
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image).convert("RGB")
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
        return image.convert("L") if channels == 1 else image


def blur_kernel_size(image_size):
    """The odd number nearest to 10 % of the side, at least 3 (src/engine/augment.ts, blurKernelSize)."""
    return max(3, 2 * math.floor((0.1 * image_size - 1) / 2 + 0.5) + 1)


def simclr_views(augment, size):
    """The tab's augmentation recipe in torchvision: two independent views per image."""
    from torchvision import transforms as T

    steps = [
        T.RandomResizedCrop(size, scale=(augment["cropAreaMin"], augment["cropAreaMax"]), ratio=(augment["aspectMin"], augment["aspectMax"])),
        T.RandomHorizontalFlip(augment["flipProb"]),
    ]
    jitter = {k: augment[k] for k in ("brightness", "contrast", "saturation", "hue")}
    if any(jitter.values()) and augment["jitterProb"] > 0:
        steps.append(T.RandomApply([T.ColorJitter(**jitter)], p=augment["jitterProb"]))
    if augment["grayscaleProb"] > 0:
        steps.append(T.RandomGrayscale(augment["grayscaleProb"]))
    if augment["blurProb"] > 0:
        blur = T.GaussianBlur(blur_kernel_size(size), sigma=(augment["blurSigmaMin"], augment["blurSigmaMax"]))
        steps.append(T.RandomApply([blur], p=augment["blurProb"]))
    steps.append(T.ToTensor())  # float32 in [0, 1], C x S x S
    return T.Compose(steps)


class ImageFolderViews(torch.utils.data.Dataset):
    def __init__(self, files, size, channels, augment):
        self.files, self.size, self.channels = files, size, channels
        self.views = simclr_views(augment, size)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        image = centred_square(self.files[index], self.size, self.channels)
        return self.views(image), self.views(image)


# ---- Model, loss, optimiser ------------------------------------------------------------------------------------------


class SimCLRNet(nn.Module):
    def __init__(self, encoder, head):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, images):
        return self.head(self.encoder(images))


def gather_with_grad(z):
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return z
    import torch.distributed.nn.functional as dist_nn

    return torch.cat(dist_nn.all_gather(z), 0)


def nt_xent(z1, z2, temperature):
    """NT-Xent over the global batch for this process's anchors: (loss, contrastive accuracy, embedding std), the loss
    a mean over local anchors, each of which sees its positive and the 2N - 2 other views of the whole batch."""
    n_local = z1.shape[0]
    rank = dist.get_rank() if dist.is_initialized() else 0
    all1, all2 = gather_with_grad(z1), gather_with_grad(z2)
    n = all1.shape[0]
    z = F.normalize(torch.cat([all1, all2], 0), dim=1)
    local = torch.cat([torch.arange(rank * n_local, (rank + 1) * n_local), n + torch.arange(rank * n_local, (rank + 1) * n_local)]).to(z.device)
    logits = z[local] @ z.T / temperature
    # Each anchor's own view is masked out as in the tab (src/engine/ntxent.ts): a large finite number, not -inf.
    logits = logits - 1e9 * F.one_hot(local, 2 * n).to(logits.dtype)
    positives = (local + n) % (2 * n)
    loss = F.cross_entropy(logits, positives)
    accuracy = (logits.argmax(1) == positives).float().mean()
    embedding_std = z.detach().std(0, unbiased=False).mean()
    return loss, accuracy.detach(), embedding_std


def excluded_from_decay(name):
    """The tab decides by the tfjs weight name; the torch names map back ('block1_bn.weight' is 'block1_bn/gamma')."""
    n = name.lower()
    return n.endswith("bias") or any(part in n for part in EXCLUDED_PARTS)


class LARS(torch.optim.Optimizer):
    """LARS as google-research/simclr lars_optimizer.py and the tab (src/engine/optim.ts): classic momentum with the
    learning rate inside the velocity; weight decay and the trust ratio only on parameters not excluded."""

    def __init__(self, params, lr, momentum, weight_decay):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, exclude=False))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad, lr = p.grad, group["lr"]
                if not group["exclude"]:
                    if group["weight_decay"] > 0:
                        grad = grad + group["weight_decay"] * p
                    w_norm, g_norm = torch.norm(p), torch.norm(grad)
                    ratio = torch.where((w_norm > 0) & (g_norm > 0), LARS_EETA * w_norm / g_norm, torch.ones_like(w_norm))
                    lr = lr * ratio
                state = self.state[p]
                v = state.setdefault("velocity", torch.zeros_like(p))
                v.mul_(group["momentum"]).add_(lr * grad)
                p.sub_(v)


def make_optimizer(net, optim):
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (no_decay if excluded_from_decay(name) else decay).append(p)
    lr, wd, momentum = optim["learningRate"], optim["weightDecay"], optim["momentum"]
    if optim["optimizer"] == "adam":
        groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    if optim["optimizer"] == "sgd":
        groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    return LARS([{"params": decay}, {"params": no_decay, "exclude": True}], lr=lr, momentum=momentum, weight_decay=wd)


def learning_rate_at(step, optim):
    """Linear warm-up, then cosine decay to 0 at totalSteps (src/engine/optim.ts, learningRateAt)."""
    base, warmup, total = optim["learningRate"], optim["warmupSteps"], optim["totalSteps"]
    if step >= total:
        return 0.0
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


# ---- The zip ---------------------------------------------------------------------------------------------------------

PYTORCH_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def tfjs_values(spec, tensors, prefix):
    """A tfjs weight ('block1_conv/kernel', HWIO) from the torch tensors ('encoder.block1_conv.weight', OIHW)."""
    layer, weight = spec["name"].rsplit("/", 1)
    name = f"{prefix}.{layer.replace('/', '.')}.{PYTORCH_NAMES.get(weight, weight)}"
    if name not in tensors:
        raise RecipeError(f"the trained model has no {name} for {spec['name']} in the zip's model.json")
    t = tensors[name].detach().to("cpu", torch.float32)
    if t.dim() == 4 and weight == "kernel":
        t = t.permute(2, 3, 1, 0)
    elif t.dim() == 2 and weight == "kernel":
        t = t.t()
    if list(t.shape) != list(spec["shape"]) or spec.get("dtype", "float32") != "float32":
        raise RecipeError(f"{spec['name']} is {spec['shape']} in the zip's model.json but {list(t.shape)} here")
    return tabclr_torch.float32_bytes(t)


def layers_model_files(source, folder, tensors, prefix):
    """model.json with its topology as the zip had it (same architecture) and one shard of the new values, in the
    manifest's order: no topology is generated here."""
    model = json.loads(source.read(f"{folder}/model.json"))
    specs = [spec for group in model["weightsManifest"] for spec in group["weights"]]
    shard = b"".join(tfjs_values(spec, tensors, prefix) for spec in specs)
    model["weightsManifest"] = [{"paths": ["group1-shard1of1.bin"], "weights": specs}]
    model["generatedBy"] = f"{model.get('generatedBy', 'TensorFlow.js')}; weights from tabclr's scripts/cluster/train_ddp.py"
    return {f"{folder}/model.json": json.dumps(model).encode(), f"{folder}/group1-shard1of1.bin": shard}


def readme(config, continued, has_head):
    m = config["training"]["model"]
    size, channels = m["imageSize"], m["channels"]
    head = ", and the projection head's" if has_head else ""
    return f"""# A SimCLR encoder trained with tabclr, continued with PyTorch

Trained in tabclr for {continued['from_step']} steps, then {continued['steps']} more with tabclr's
scripts/cluster/train_ddp.py ({continued['processes']} processes, {continued['backend']}, PyTorch {continued['torch']}).

`encoder/` is the encoder ({m['encoder']}) as a TensorFlow.js Layers model; `weights.safetensors` holds the same
weights with PyTorch names and layouts{head}; `tabclr_torch.py` builds the model in PyTorch from them.
`config.json` has the training configuration as used, the step reached and the final metrics. Load this zip on
tabclr's page ("Load model") to map your images with it or train on, and "Download weights" there for the full set
of files, encoder.onnx included.

Input: {size} x {size} x {channels}, pixel values / 255 (in [0, 1]), the centred square of each image.

## PyTorch
```python
import tabclr_torch
encoder = tabclr_torch.load_encoder(".")
h = encoder(images)  # images: float32 [N, {channels}, {size}, {size}] (NCHW), pixel values / 255
```
"""


def write_zip(args, source, config, net, metrics, steps, world, backend):
    tensors = tabclr_torch.weight_tensors([net.encoder, net.head])
    files = layers_model_files(source, "encoder", tensors, "encoder")
    has_head = "projection_head/model.json" in source.namelist()
    if has_head:
        files.update(layers_model_files(source, "projection_head", tensors, "projection_head"))
    else:
        tensors = {k: v for k, v in tensors.items() if k.startswith("encoder.")}
    weights = io.BytesIO()
    tabclr_torch.write_safetensors(tensors, weights, {"format": "pt", "producer": "tabclr scripts/cluster/train_ddp.py", "encoder": config["training"]["model"]["encoder"]})
    files["weights.safetensors"] = weights.getvalue()
    continued = {
        "from_step": config.get("step", 0),
        "steps": steps,
        "script": "scripts/cluster/train_ddp.py",
        "torch": torch.__version__,
        "processes": world,
        "backend": backend,
    }
    out = dict(config)
    out.update(
        created=datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
        step=config.get("step", 0) + steps,
        final_metrics=metrics,
        continued_with=continued,
    )
    files["config.json"] = (json.dumps(out, indent=2) + "\n").encode()
    files["README.md"] = readme(out, continued, has_head).encode()
    with open(tabclr_torch.__file__, "rb") as f:
        files["tabclr_torch.py"] = f.read()
    with zipfile.ZipFile(args.out, "w", zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            z.writestr(name, data)


# ---- Training --------------------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a weights zip downloaded from tabclr (or written by this script)")
    p.add_argument("--data", required=True, help="a folder of images (sub-folders are walked)")
    p.add_argument("--steps", type=int, required=True, help="steps to train: the length of the new schedule")
    p.add_argument("--out", required=True, help="the zip to write")
    p.add_argument("--batch", type=int, help="global batch size (default: the recipe's); split over the processes")
    p.add_argument("--lr", type=float, help="base learning rate (default: the recipe's)")
    p.add_argument("--warmup-steps", type=int, help="warm-up steps (default: the recipe's)")
    p.add_argument("--seed", type=int, help="seed (default: the recipe's)")
    p.add_argument("--loader-workers", type=int, default=2, help="image-decoding processes per training process (default 2)")
    p.add_argument("--json", action="store_true", help="one JSON line per step on stdout")
    return p.parse_args(argv)


def fail(message):
    print(f"train_ddp.py: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    args = parse_args(argv)
    distributed = "RANK" in os.environ
    if distributed:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        backend, rank, world = "none", 0, 1
    device = torch.device(f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu")
    say = (lambda line: print(line, file=sys.stderr if args.json else sys.stdout, flush=True)) if rank == 0 else (lambda line: None)

    try:
        source = zipfile.ZipFile(args.model)
        config = tabclr_torch.read_config(args.model)
        training = json.loads(json.dumps(config["training"]))
        options = check_recipe(training)
    except (OSError, zipfile.BadZipFile, tabclr_torch.TabclrError, RecipeError) as e:
        fail(f"{args.model} cannot be continued: {e}")
    if args.steps is None or args.steps < 1:
        fail("--steps must be at least 1")
    if args.batch is not None:
        training["batchSize"] = args.batch
    if args.lr is not None:
        training["optim"]["learningRate"] = args.lr
    if args.warmup_steps is not None:
        training["optim"]["warmupSteps"] = args.warmup_steps
    if args.seed is not None:
        training["seed"] = args.seed
    optim = training["optim"]
    optim["totalSteps"] = args.steps
    if optim["warmupSteps"] >= args.steps:
        fail(f"the recipe warms up for {optim['warmupSteps']} steps, not shorter than --steps {args.steps}: pass --warmup-steps below {args.steps}")
    batch = training["batchSize"]
    if batch < 2 or batch % world:
        fail(f"the global batch ({batch}) must be at least 2 and divide evenly over {world} processes: pass --batch")
    if not os.path.isdir(args.data):
        fail(f"--data {args.data} is not a folder")
    files = image_files(args.data)
    if len(files) < batch:
        fail(f"{args.data} has {len(files)} images, fewer than the batch of {batch}")

    encoder, head = tabclr_torch.load_model(args.model)
    if head is None:
        # As in the tab, a zip without its head trains on with a new one.
        torch.manual_seed(training["seed"])
        head = tabclr_torch.build_projection_head(training["model"], encoder.representation_dim)
    net = SimCLRNet(encoder, head).to(device).train()
    if distributed:
        if backend == "nccl":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        ddp = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        ddp = net
    optimizer = make_optimizer(net, optim)

    size, channels = options["imageSize"], options["channels"]
    dataset = ImageFolderViews(files, size, channels, training["augment"])
    sampler = torch.utils.data.DistributedSampler(dataset, world, rank, shuffle=True, seed=training["seed"], drop_last=True) if distributed else None
    generator = torch.Generator().manual_seed(training["seed"])
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch // world, sampler=sampler, shuffle=sampler is None, generator=generator if sampler is None else None,
        drop_last=True, num_workers=args.loader_workers, persistent_workers=args.loader_workers > 0,
    )
    torch.manual_seed(training["seed"] + rank)
    say(
        f"continuing {args.model} (step {config.get('step', 0)}): {options['encoder']} at width {options['width']}, {len(files)} images at "
        f"{size} px, {args.steps} steps of batch {batch} over {world} process{'es' if world > 1 else ''} ({backend}, {device.type}), "
        f"{optim['optimizer']} lr {optim['learningRate']}, warm-up {optim['warmupSteps']}, temperature {training['method']['temperature']}"
    )

    step, epoch, metrics = 0, 0, None
    while step < args.steps:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for view1, view2 in loader:
            lr = learning_rate_at(step, optim)
            for group in optimizer.param_groups:
                group["lr"] = lr
            z = ddp(torch.cat([view1, view2], 0).to(device, non_blocking=True))
            loss, accuracy, std = nt_xent(z[: view1.shape[0]], z[view1.shape[0] :], training["method"]["temperature"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            reported = torch.stack([loss.detach(), accuracy, std])
            if distributed:
                dist.all_reduce(reported)
                reported /= world
            loss_value, acc_value, std_value = reported.tolist()
            if not math.isfinite(loss_value):
                fail(f"the loss is not finite at step {step + 1}: try a lower --lr (nothing was written)")
            step += 1
            metrics = {"loss": loss_value, "method_loss": loss_value, "contrastive_acc": acc_value, "embedding_std": std_value, "lr": lr}
            if args.json and rank == 0:
                print(json.dumps({"type": "step", "step": step, **metrics}), flush=True)
            elif rank == 0:
                say(f"step {step}/{args.steps}  loss {loss_value:.4f}  acc {acc_value:.3f}  std {std_value:.4f}  lr {lr:.3g}")
            if step >= args.steps:
                break
        epoch += 1

    if rank == 0:
        config["training"] = training
        write_zip(args, source, config, net, metrics, args.steps, world, backend)
        say(f"wrote {args.out}: step {config.get('step', 0) + args.steps}")
        if args.json:
            print(json.dumps({"type": "summary", "out": args.out, "step": config.get("step", 0) + args.steps, "ln_2n_minus_1": math.log(2 * batch - 1), **metrics}), flush=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
