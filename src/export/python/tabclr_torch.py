"""tabclr's encoder and projection head in PyTorch, built from a tabclr weights zip.

Every weights zip that tabclr writes carries this file at its root. It needs torch only (the `safetensors` package is
used when it is installed, else the format's few lines are read here). Three lines give the representation h exactly
as the tab computes it:

    import tabclr_torch
    encoder = tabclr_torch.load_encoder("tabclr-convnet4-step300")   # the unzipped folder, or the .zip itself
    h = encoder(images)   # images: float32, N x C x S x S (NCHW), pixel values / 255 in [0, 1]

What "exactly" takes, each of which a natural port gets wrong: TensorFlow's 'same' padding (a stride-2 convolution
on an even size pads only the bottom and the right; nn.Conv2d(padding=1) pads all four sides), batch norm with
epsilon 1e-5, the ReLU where tfjs puts it, NCHW here where the tab computes in NHWC, and inputs in [0, 1] with no
mean or standard deviation subtracted.

The building blocks are public for code that trains or evaluates these models: model_options, build_encoder,
build_projection_head, load_weights, read_config, read_safetensors, write_safetensors, weight_tensors, load_model.
Everything is built from config.json; a config or a weights file this file does not understand is refused with
the reason, never half-loaded.

The tab is the reference implementation; this file mirrors tabclr's src/engine/encoders.ts, head.ts and layers.ts,
and tabclr's tests check that it computes what the tab computes.
"""

from __future__ import annotations

import array
import json
import math
import os
import struct
import sys
import zipfile
from typing import Any, BinaryIO, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TabclrError",
    "ENCODERS",
    "MODEL_FIELDS",
    "model_options",
    "scaled_width",
    "Conv2dSame",
    "ConvNet4",
    "ResNet18",
    "ProjectionHead",
    "build_encoder",
    "build_projection_head",
    "read_config",
    "read_safetensors",
    "write_safetensors",
    "float32_bytes",
    "weight_tensors",
    "load_weights",
    "load_encoder",
    "load_model",
    "training_method",
]


class TabclrError(ValueError):
    """A zip, config or weights file that this module cannot use as it stands; the message says why."""


# src/engine/layers.ts: google-research/simclr's BATCH_NORM_EPSILON, and Keras momentum 0.9 = PyTorch momentum 0.1.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.1

ENCODERS = ("convnet4", "resnet18")

_REQUIRED = object()


class _Field(NamedTuple):
    default: Any  # _REQUIRED, or the value for configs written before the field existed
    valid: Callable[[Any], bool]
    expected: str


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


# Every field of config.json's training.model that this file knows, with the default that configs written before the
# field existed get, and what a valid value is (src/engine/config.ts, validateTrainConfig). A field tabclr adds later
# is one entry here and one use in the builder that it changes; a field not listed is refused, not ignored.
MODEL_FIELDS: Dict[str, _Field] = {
    "encoder": _Field(_REQUIRED, lambda v: v in ENCODERS, "convnet4 or resnet18"),
    "width": _Field(_REQUIRED, lambda v: _is_number(v) and 1 / 64 <= v <= 4, "a number from 1/64 to 4"),
    "imageSize": _Field(_REQUIRED, lambda v: _is_int(v) and 8 <= v <= 256, "a whole number of pixels from 8 to 256"),
    "channels": _Field(_REQUIRED, lambda v: _is_int(v) and v in (1, 3), "1 or 3"),
    "headLayers": _Field(_REQUIRED, lambda v: _is_int(v) and v in (2, 3), "2 or 3"),
    "projectionDim": _Field(_REQUIRED, lambda v: _is_int(v) and 2 <= v <= 4096, "a whole number from 2 to 4096"),
    # Since the parity work (issue #13); configs from before have none of the three and mean the old model.
    "headHidden": _Field("representation", lambda v: v in ("representation", "atLeastProjection"), '"representation" or "atLeastProjection"'),
    "representationRelu": _Field(True, lambda v: isinstance(v, bool), "true or false"),
    "init": _Field("keras", lambda v: v in ("torch", "keras"), '"torch" or "keras"'),
    # The optional entropy regulariser's head exists in training only; no zip carries it.
    "entropyWeight": _Field(0, lambda v: _is_number(v) and 0 <= v <= 10, "a number from 0 to 10"),
    "entropyClusters": _Field(16, lambda v: _is_int(v) and 2 <= v <= 1024, "a whole number from 2 to 1024"),
}


def model_options(config_model: Dict[str, Any]) -> Dict[str, Any]:
    """config.json's training.model, checked, with the defaults of fields that older configs lack filled in."""
    if not isinstance(config_model, dict):
        raise TabclrError(f"training.model in config.json must be an object, got {type(config_model).__name__}")
    unknown = sorted(set(config_model) - set(MODEL_FIELDS))
    if unknown:
        raise TabclrError(
            f"config.json's training.model has {', '.join(repr(k) for k in unknown)}, which this tabclr_torch.py does not "
            "know: the zip was written by another tabclr version or the config was edited. Use the tabclr_torch.py from "
            "the same zip; a model this file does not know is refused rather than built wrong"
        )
    options: Dict[str, Any] = {}
    for name, field in MODEL_FIELDS.items():
        if name not in config_model:
            if field.default is _REQUIRED:
                raise TabclrError(f"config.json's training.model has no {name!r} ({field.expected})")
            options[name] = field.default
            continue
        value = config_model[name]
        if not field.valid(value):
            raise TabclrError(f"config.json's training.model.{name} must be {field.expected}, got {value!r}")
        options[name] = value
    return options


def scaled_width(base: int, width: float) -> int:
    """Channels scaled by the width multiplier, never below 1 (src/engine/config.ts: JavaScript's Math.round)."""
    return max(1, math.floor(base * width + 0.5))


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d with TensorFlow's padding='same' and no bias: out = ceil(in / stride), and when the padding is odd
    the extra row and column go at the bottom and the right (a 3 x 3 stride-2 convolution on an even size pads only
    there). Computed from the input's size, as TensorFlow does."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: List[int] = []
        # F.pad takes the last dimension first: (left, right, top, bottom).
        for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]), (x.shape[-2], self.kernel_size[0], self.stride[0])):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, None, self.stride)


def _batch_norm_2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


def _init_like_tabclr(module: nn.Module, scheme: str = "keras") -> None:
    """The tab's initial distributions (src/engine/layers.ts), not its numbers. init "torch" (new runs): PyTorch's own
    defaults, kernels and dense biases uniform in +-1/sqrt(fan-in). init "keras": He-normal convolutions (truncated at
    two standard deviations, as tfjs draws them), Glorot-uniform dense layers, zero biases. Batch norm starts at 1
    and 0, or 0 and 0 for the last batch norm of each ResNet block (zero_gamma)."""
    for m in module.modules():
        if scheme == "torch" and isinstance(m, (nn.Conv2d, nn.Linear)):
            m.reset_parameters()
        elif isinstance(m, nn.Conv2d):
            std = math.sqrt(2.0 / (m.in_channels * m.kernel_size[0] * m.kernel_size[1]))
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.reset_parameters()
            if getattr(m, "zero_gamma", False):
                nn.init.zeros_(m.weight)


class _Encoder(nn.Module):
    """What both encoders share: the weights' prefix in weights.safetensors, the input they take, and its check."""

    weights_prefix = "encoder"

    def __init__(self, options: Dict[str, Any]):
        super().__init__()
        self.options = dict(options)
        self.input_shape = (options["channels"], options["imageSize"], options["imageSize"])
        self.representation_dim = 0

    def describe(self) -> str:
        c, s, _ = self.input_shape
        return f"{self.options['encoder']} at width {self.options['width']:g} for {s} x {s} x {c} images"

    def _check_input(self, images: torch.Tensor) -> None:
        c, s, _ = self.input_shape
        if images.dim() != 4 or tuple(images.shape[1:]) != self.input_shape:
            hint = ""
            if images.dim() == 4 and tuple(images.shape[1:]) == (s, s, c):
                hint = " (these look NHWC: images.permute(0, 3, 1, 2) makes them NCHW)"
            raise TabclrError(f"{self.describe()} takes N x {c} x {s} x {s} (NCHW) images, got {tuple(images.shape)}{hint}")
        if not images.is_floating_point():
            raise TabclrError(f"the encoder takes float images in [0, 1]; got {images.dtype} (divide by 255)")


class ConvNet4(_Encoder):
    """convnet4: four 3 x 3 conv blocks (conv, batch norm, ReLU; the last three downsample by stride 2), global average
    pooling and a dense layer, whose output is h, with a ReLU when representationRelu (src/engine/encoders.ts)."""

    BLOCKS = (32, 64, 128, 256)

    def __init__(self, options: Dict[str, Any]):
        super().__init__(options)
        width, channels = options["width"], options["channels"]
        self.block_names: List[str] = []
        for i, base in enumerate(self.BLOCKS):
            name, filters = f"block{i + 1}", scaled_width(base, width)
            self.add_module(f"{name}_conv", Conv2dSame(channels, filters, 3, stride=1 if i == 0 else 2))
            self.add_module(f"{name}_bn", _batch_norm_2d(filters))
            self.block_names.append(name)
            channels = filters
        self.representation_dim = scaled_width(256, width)
        self.representation = nn.Linear(channels, self.representation_dim)
        _init_like_tabclr(self, options["init"])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self._check_input(images)
        x = images
        for name in self.block_names:
            x = F.relu(getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(x)))
        x = x.mean(dim=(2, 3))
        h = self.representation(x)
        return F.relu(h) if self.options["representationRelu"] else h


class ResNet18(_Encoder):
    """ResNet-18 in its small-image form (SimCLR's CIFAR variant): a 3 x 3 stride-1 stem, no max-pool, four stages of two
    basic blocks, global average pooling as h (src/engine/encoders.ts)."""

    STAGES = (64, 128, 256, 512)

    def __init__(self, options: Dict[str, Any]):
        super().__init__(options)
        width = options["width"]
        channels = scaled_width(64, width)
        self.stem_conv = Conv2dSame(options["channels"], channels, 3)
        self.stem_bn = _batch_norm_2d(channels)
        # (name, stride, has a projection shortcut)
        self.blocks: List[Tuple[str, int, bool]] = []
        for stage, base in enumerate(self.STAGES):
            filters = scaled_width(base, width)
            for block in range(2):
                name, stride = f"stage{stage + 1}_block{block + 1}", 2 if stage > 0 and block == 0 else 1
                projection = stride != 1 or channels != filters
                if projection:
                    self.add_module(f"{name}_shortcut_conv", Conv2dSame(channels, filters, 1, stride=stride))
                    self.add_module(f"{name}_shortcut_bn", _batch_norm_2d(filters))
                self.add_module(f"{name}_1_conv", Conv2dSame(channels, filters, 3, stride=stride))
                self.add_module(f"{name}_1_bn", _batch_norm_2d(filters))
                self.add_module(f"{name}_2_conv", Conv2dSame(filters, filters, 3))
                last_bn = _batch_norm_2d(filters)
                last_bn.zero_gamma = True  # each block starts as the identity (Goyal et al. 2017; SimCLR resnet.py)
                self.add_module(f"{name}_2_bn", last_bn)
                self.blocks.append((name, stride, projection))
                channels = filters
        self.representation_dim = channels
        _init_like_tabclr(self, options["init"])

    def _conv_bn(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self._check_input(images)
        x = F.relu(self._conv_bn("stem", images))
        for name, _, projection in self.blocks:
            shortcut = self._conv_bn(f"{name}_shortcut", x) if projection else x
            y = F.relu(self._conv_bn(f"{name}_1", x))
            y = self._conv_bn(f"{name}_2", y)
            x = F.relu(y + shortcut)
        return x.mean(dim=(2, 3))


class ProjectionHead(nn.Module):
    """g(h) = z: dense (no bias) -> batch norm -> ReLU for each hidden layer, then dense -> batch norm to the projection
    dimension (google-research/simclr's ProjectionHead; src/engine/head.ts). The hidden layers are as wide as h, or, with
    headHidden "atLeastProjection", never narrower than the projection (src/engine/methods/simclr.ts)."""

    weights_prefix = "projection_head"

    def __init__(self, options: Dict[str, Any], representation_dim: int):
        super().__init__()
        self.options = dict(options)
        self.representation_dim = representation_dim
        self.layer_names: List[str] = []
        hidden = representation_dim
        if options["headHidden"] == "atLeastProjection":
            hidden = max(representation_dim, options["projectionDim"])
        inputs = representation_dim
        for i in range(1, options["headLayers"] + 1):
            last = i == options["headLayers"]
            units = options["projectionDim"] if last else hidden
            self.add_module(f"head{i}_dense", nn.Linear(inputs, units, bias=False))
            inputs = units
            self.add_module(f"head{i}_bn", nn.BatchNorm1d(units, eps=BN_EPSILON, momentum=BN_MOMENTUM))
            self.layer_names.append(f"head{i}")
        _init_like_tabclr(self, options["init"])

    def describe(self) -> str:
        return f"projection head of {self.options['headLayers']} layers, {self.representation_dim} -> {self.options['projectionDim']}"

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = h
        for i, name in enumerate(self.layer_names):
            x = getattr(self, f"{name}_bn")(getattr(self, f"{name}_dense")(x))
            if i < len(self.layer_names) - 1:
                x = F.relu(x)
        return x


def build_encoder(config_model: Dict[str, Any]) -> _Encoder:
    """A freshly initialised encoder (the tab's initial distributions) for config.json's training.model."""
    options = model_options(config_model)
    return {"convnet4": ConvNet4, "resnet18": ResNet18}[options["encoder"]](options)


def build_projection_head(config_model: Dict[str, Any], representation_dim: int) -> ProjectionHead:
    """A freshly initialised projection head for config.json's training.model on an encoder with that h size."""
    if not (_is_int(representation_dim) and representation_dim >= 1):
        raise TabclrError(f"representation_dim must be a whole number >= 1, got {representation_dim!r}")
    return ProjectionHead(model_options(config_model), representation_dim)


# ---- Files -------------------------------------------------------------------------------------------------------


class _Files:
    """The files of an unzipped tabclr folder or of the zip itself, by name."""

    def __init__(self, location: Union[str, os.PathLike]):
        self.location = os.fspath(location)
        self._zip: Optional[zipfile.ZipFile] = None
        if os.path.isdir(self.location):
            return
        if not os.path.exists(self.location):
            raise TabclrError(f"{self.location} does not exist (give the unzipped tabclr folder or the .zip)")
        if not zipfile.is_zipfile(self.location):
            raise TabclrError(f"{self.location} is neither a folder nor a zip file")
        self._zip = zipfile.ZipFile(self.location)

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            try:
                return self._zip.read(name)
            except KeyError:
                raise TabclrError(f"{self.location} has no {name}, so it is not a model downloaded from tabclr") from None
        path = os.path.join(self.location, name)
        if not os.path.isfile(path):
            raise TabclrError(f"{self.location} has no {name}, so it is not a model downloaded from tabclr")
        with open(path, "rb") as f:
            return f.read()


def read_config(location: Union[str, os.PathLike]) -> Dict[str, Any]:
    """config.json of a tabclr folder or zip, checked: written by tabclr, with a training.model this file knows, and
    an input section that agrees with it."""
    return _read_config(_Files(location))


def _read_config(files: _Files) -> Dict[str, Any]:
    try:
        config = json.loads(files.read("config.json").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TabclrError(f"config.json in {files.location} is not valid JSON ({e})") from None
    if not isinstance(config, dict) or not isinstance(config.get("tabclr_version"), str) or not isinstance(config.get("training"), dict):
        raise TabclrError(f"config.json in {files.location} was not written by tabclr")
    options = model_options(config["training"].get("model"))
    given = config.get("input")
    if isinstance(given, dict):
        size, channels = given.get("size"), given.get("channels")
        if size != [options["imageSize"]] * 2 or channels != options["channels"]:
            raise TabclrError(
                f"config.json's input ({size}, {channels} channels) contradicts its training.model "
                f"({options['imageSize']} px, {options['channels']} channels)"
            )
    return config


_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def _parse_safetensors(data: bytes, what: str) -> Dict[str, torch.Tensor]:
    """The safetensors format: a u64 little-endian header length, a JSON header (name -> dtype, shape, byte offsets
    into the data that follows; '__metadata__' holds strings), then the little-endian tensor bytes."""
    if len(data) < 8:
        raise TabclrError(f"{what} is too short to be a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise TabclrError(f"{what} is cut short (its header claims {length} bytes)")
    try:
        header = json.loads(data[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TabclrError(f"{what} has an unreadable header ({e})") from None
    body = memoryview(data)[8 + length :]
    tensors: Dict[str, torch.Tensor] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise TabclrError(f"{what}: tensor {name} has dtype {entry.get('dtype')!r}, which this reader does not know")
        start, end = entry["data_offsets"]
        shape = [int(d) for d in entry["shape"]]
        count = math.prod(shape)
        if end > len(body):
            raise TabclrError(f"{what} is cut short: tensor {name} ends at byte {end} of data, the file has {len(body)}")
        if not 0 <= start <= end or end - start != count * torch.tensor([], dtype=dtype).element_size():
            raise TabclrError(f"{what} is damaged: tensor {name}'s bytes {start}..{end} do not fit its shape {shape}")
        if count == 0:
            tensors[name] = torch.zeros(shape, dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(bytearray(body[start:end]), dtype=dtype).reshape(shape)
    return tensors


def read_safetensors(source: Union[str, os.PathLike, bytes]) -> Dict[str, torch.Tensor]:
    """Every tensor of a .safetensors file (a path, or its bytes), by name. Uses the `safetensors` package when it is
    installed; otherwise reads the format here."""
    if isinstance(source, (bytes, bytearray)):
        return _read_safetensors_bytes(bytes(source), "the weights")
    with open(os.fspath(source), "rb") as f:
        return _read_safetensors_bytes(f.read(), os.fspath(source))


def _read_safetensors_bytes(data: bytes, what: str) -> Dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load as _load  # type: ignore[import-not-found]
    except ImportError:
        return _parse_safetensors(data, what)
    try:
        return dict(_load(data))
    except Exception as e:  # the package's own error types differ between versions
        raise TabclrError(f"{what} is not a readable safetensors file ({e})") from None


def float32_bytes(tensor: torch.Tensor) -> bytes:
    """A tensor's values as little-endian float32 bytes, row-major (without numpy, which torch does not require)."""
    values = array.array("f", tensor.detach().to("cpu", torch.float32).flatten().tolist())
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def write_safetensors(tensors: Dict[str, torch.Tensor], destination: Union[str, os.PathLike, BinaryIO], metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes tensors as float32 to a .safetensors file (a path, or a binary file object) that tabclr and the
    `safetensors` package read."""
    header: Dict[str, Any] = {"__metadata__": dict(metadata or {})}
    chunks: List[bytes] = []
    offset = 0
    for name, tensor in tensors.items():
        raw = float32_bytes(tensor)
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    if hasattr(destination, "write"):
        _write_all(destination, [struct.pack("<Q", len(text)), text, *chunks])
        return
    with open(os.fspath(destination), "wb") as f:
        _write_all(f, [struct.pack("<Q", len(text)), text, *chunks])


def _write_all(f: BinaryIO, parts: Sequence[bytes]) -> None:
    for part in parts:
        f.write(part)


# ---- Weights -----------------------------------------------------------------------------------------------------


def _as_modules(modules: Union[nn.Module, Iterable[Optional[nn.Module]]]) -> List[nn.Module]:
    listed = [modules] if isinstance(modules, nn.Module) else [m for m in modules if m is not None]
    for m in listed:
        if not isinstance(getattr(m, "weights_prefix", None), str):
            raise TabclrError(f"{type(m).__name__} is not one of tabclr_torch's modules (it has no weights_prefix)")
    return listed


def _file_entries(module: nn.Module) -> Dict[str, torch.Tensor]:
    # BatchNorm's num_batches_tracked is PyTorch bookkeeping, not a weight: the files do not carry it.
    return {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


def weight_tensors(modules: Union[nn.Module, Iterable[Optional[nn.Module]]]) -> Dict[str, torch.Tensor]:
    """The weights as weights.safetensors names them ('encoder.block1_conv.weight', 'projection_head.head1_bn.running_var')."""
    out: Dict[str, torch.Tensor] = {}
    for m in _as_modules(modules):
        out.update({f"{m.weights_prefix}.{k}": v for k, v in _file_entries(m).items()})
    return out


def load_weights(
    modules: Union[nn.Module, Iterable[Optional[nn.Module]]],
    weights: Union[str, os.PathLike, bytes, Dict[str, torch.Tensor]],
) -> None:
    """Copies the weights (a .safetensors path or bytes, or tensors by name) into the modules. Each module takes the
    tensors under its prefix ('encoder.', 'projection_head.'), all of them, each with its exact shape; anything
    missing, extra or misshapen is refused before a value is copied, since it means the weights come from another
    model than the one config.json describes."""
    tensors = weights if isinstance(weights, dict) else read_safetensors(weights)
    listed = _as_modules(modules)
    plans = []
    for m in listed:
        prefix = f"{m.weights_prefix}."
        expected = _file_entries(m)
        given = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        what = m.describe() if hasattr(m, "describe") else type(m).__name__
        missing = sorted(set(expected) - set(given))
        extra = sorted(set(given) - set(expected))
        problems = []
        if missing:
            problems.append(f"missing {len(missing)} ({', '.join(prefix + k for k in missing[:4])}{', ...' if len(missing) > 4 else ''})")
        if extra:
            problems.append(f"{len(extra)} it does not have ({', '.join(prefix + k for k in extra[:4])}{', ...' if len(extra) > 4 else ''})")
        misshapen = [k for k in sorted(set(expected) & set(given)) if tuple(given[k].shape) != tuple(expected[k].shape)]
        for k in misshapen[:4]:
            problems.append(f"{prefix}{k} is {list(given[k].shape)} but the model has {list(expected[k].shape)}")
        if problems:
            raise TabclrError(
                f"the weights do not fit the {what} that config.json describes: {'; '.join(problems)} "
                "(weights from another encoder, or a config.json changed after download?)"
            )
        plans.append((expected, given))
    with torch.no_grad():
        for expected, given in plans:
            for k, target in expected.items():
                target.copy_(given[k].to(target.dtype))


def training_method(config: Dict[str, Any]) -> str:
    """The self-supervised method a config.json was trained with: training.method.name, or "simclr" for configs written
    before tabclr had several methods (they carry a top-level temperature instead)."""
    method = config["training"].get("method")
    if method is None:
        return "simclr"
    if not isinstance(method, dict) or not isinstance(method.get("name"), str):
        raise TabclrError(f"config.json's training.method must be an object with a name, got {method!r}")
    return method["name"]


def _load(location: Union[str, os.PathLike], with_head: bool) -> Tuple[_Encoder, Optional[ProjectionHead]]:
    files = _Files(location)
    config = _read_config(files)
    model = config["training"]["model"]
    tensors = _read_safetensors_bytes(files.read("weights.safetensors"), "weights.safetensors")
    encoder = build_encoder(model)
    head = None
    if with_head and any(k.startswith("projection_head.") for k in tensors):
        method = training_method(config)
        if method != "simclr":
            # Each method shapes its heads its own way (src/engine/methods/); only SimCLR's is built here so far.
            raise TabclrError(
                f"this zip was trained with {method!r}, whose heads this tabclr_torch.py does not build (SimCLR's only): "
                "load_encoder gives its representation h"
            )
        head = build_projection_head(model, encoder.representation_dim)
    load_weights([encoder, head], tensors)
    declared = config.get("representation_dim")
    if declared is not None and declared != encoder.representation_dim:
        raise TabclrError(f"config.json says h has {declared} values but {encoder.describe()} gives {encoder.representation_dim}")
    encoder.eval()
    if head is not None:
        head.eval()
    return encoder, head


def load_model(location: Union[str, os.PathLike]) -> Tuple[_Encoder, Optional[ProjectionHead]]:
    """(encoder, projection head) of a tabclr folder or zip, in eval mode; the head is None when the zip has none
    (tabclr adds it when "Include the projection head" is ticked). encoder(images) is h, head(h) is z. SimCLR's head
    only: a zip of another method with its heads is refused (load_encoder reads it)."""
    return _load(location, with_head=True)


def load_encoder(location: Union[str, os.PathLike]) -> _Encoder:
    """The encoder of a tabclr folder or zip, whatever the method, in eval mode: float32 N x C x S x S images in
    [0, 1] -> h. The heads' weights, when the zip has them, are left alone."""
    return _load(location, with_head=False)[0]
