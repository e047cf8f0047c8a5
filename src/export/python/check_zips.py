"""Test harness (not shipped in the zip): runs each case's model as a user would and reports what it computed.

tabclr's Node tests (src/export/portability.test.ts, e2e/export.spec.ts) write weights zips, then call this once:

    python3 check_zips.py JOB.json

JOB.json: {"cases": [{"name", "module": the zip's tabclr_torch.py, "model": unzipped folder or .zip,
                      "images": float32 NCHW file, "shape": [N, C, S, S], "out": folder, "permute": optional,
                      "entry": optional, "load_encoder" to load the encoder alone}]}
For each case it loads the model with that tabclr_torch.py (load_model and load_encoder), computes h (and z when the
zip has a head) on the images and writes them to out/h.bin and out/z.bin (float32). stdout: one JSON object with a
result per case: {"name", "ok": true, "h": shape, "z": shape or null} or {"name", "ok": false, "error_type",
"error"}. The Node test compares the numbers with the tab's and the errors with what a user should read.

A case with "onnx": the zip's encoder.onnx also goes through onnx's own checker (the full check, with shape inference;
Netron cannot run here) and OpenCV's DNN module, whose outputs go to out/h_opencv.bin and out/z_opencv.bin. Both
come from Debian (python3-onnx, python3-opencv); without them the case fails, it is not skipped.

A case with "code" instead of "model" runs that Python verbatim (a README's snippet) in the folder "cwd", with
`images` set (a numpy array when the code uses cv2, else a torch tensor) and `path` set to the case's "path" (an image
file, for the snippet that prepares one), and writes the `h` (and `z`) it leaves, or the pixels of the PIL image `im`
it leaves (out/pixels.bin, uint8, and their shape as "pixels").
"""

import array
import importlib.util
import io
import json
import os
import sys

import torch


def load_module(path, cache={}):
    if path not in cache:
        spec = importlib.util.spec_from_file_location(f"tabclr_torch_{len(cache)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cache[path] = module
    return cache[path]


def read_floats(path, shape):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(shape)


def write_floats(path, tensor):
    with open(path, "wb") as f:
        f.write(array.array("f", tensor.detach().flatten().tolist()).tobytes())


def check_onnx(path, images, out):
    import cv2
    import numpy
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    dims = lambda value: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    net = cv2.dnn.readNetFromONNX(path)
    net.setInput(numpy.ascontiguousarray(images.numpy()))
    names = [o.name for o in model.graph.output]
    produced = net.forward(names)
    for name, values in zip(names, produced):
        write_floats(os.path.join(out, f"{name}_opencv.bin"), torch.from_numpy(numpy.ascontiguousarray(values)))
    return {
        "checker": "passed",
        "ir_version": model.ir_version,
        "opsets": {o.domain: o.version for o in model.opset_import},
        "inputs": [[i.name, dims(i)] for i in model.graph.input],
        "outputs": [[o.name, dims(o)] for o in model.graph.output],
        "opencv": {name: list(values.shape) for name, values in zip(names, produced)},
    }


def run_case(case):
    tabclr_torch = load_module(case["module"])
    os.makedirs(case["out"], exist_ok=True)
    try:
        if case.get("entry") == "load_encoder":
            encoder, head = tabclr_torch.load_encoder(case["model"]), None
        else:
            encoder, head = tabclr_torch.load_model(case["model"])
        images = read_floats(case["images"], case["shape"])
        if "permute" in case:
            images = images.permute(*case["permute"])
        with torch.no_grad():
            h = encoder(images)
            # The documented entry point gives the same encoder.
            same = tabclr_torch.load_encoder(case["model"])(images)
            z = head(h) if head is not None else None
    except tabclr_torch.TabclrError as e:
        return {"ok": False, "error_type": "TabclrError", "error": str(e)}
    except Exception as e:  # reported, so that the test says which error a user would have met
        return {"ok": False, "error_type": type(e).__name__, "error": str(e)}
    write_floats(os.path.join(case["out"], "h.bin"), h)
    if z is not None:
        write_floats(os.path.join(case["out"], "z.bin"), z)
    onnx_report = check_onnx(case["onnx"], images, case["out"]) if "onnx" in case else None
    # The weights written back with write_safetensors (to a file object and to a path) read back the same.
    weights = tabclr_torch.weight_tensors([encoder, head])
    buffer = io.BytesIO()
    tabclr_torch.write_safetensors(weights, buffer, {"format": "pt"})
    path = os.path.join(case["out"], "written.safetensors")
    tabclr_torch.write_safetensors(weights, path)
    copies = [tabclr_torch.read_safetensors(buffer.getvalue()), tabclr_torch.read_safetensors(path)]
    roundtrip = all(set(c) == set(weights) and all(torch.equal(c[k], weights[k]) for k in weights) for c in copies)
    return {
        "safetensors_roundtrip": roundtrip,
        "onnx": onnx_report,
        "ok": True,
        "h": list(h.shape),
        "z": list(z.shape) if z is not None else None,
        "load_encoder_matches": bool(torch.equal(h, same)),
        "eval_mode": not encoder.training and (head is None or not head.training),
    }


def run_snippet(case):
    images = read_floats(case["images"], case["shape"])
    if "cv2" in case["code"]:
        import numpy

        images = numpy.ascontiguousarray(images.numpy())
    here = os.getcwd()
    sys.modules.pop("tabclr_torch", None)  # the folder's own copy, not one imported from elsewhere before
    sys.path.insert(0, case["cwd"])
    os.chdir(case["cwd"])
    try:
        scope = {"images": images, "path": case.get("path")}
        with torch.no_grad():
            exec(compile(case["code"], f"{case['name']} (README)", "exec"), scope)
    finally:
        os.chdir(here)
        sys.path.remove(case["cwd"])
    os.makedirs(case["out"], exist_ok=True)
    shapes = {}
    for name in ("h", "z"):
        if name in scope:
            value = torch.as_tensor(scope[name])
            write_floats(os.path.join(case["out"], f"{name}.bin"), value)
            shapes[name] = list(value.shape)
    if "h" not in scope and "im" in scope:
        import numpy

        pixels = numpy.asarray(scope["im"], dtype=numpy.uint8)
        with open(os.path.join(case["out"], "pixels.bin"), "wb") as f:
            f.write(pixels.tobytes())
        shapes["pixels"] = list(pixels.shape)
    return {"ok": True, **shapes}


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    results = [{"name": case["name"], **(run_snippet(case) if "code" in case else run_case(case))} for case in job["cases"]]
    print(json.dumps({"torch": torch.__version__, "results": results}))


if __name__ == "__main__":
    main()
