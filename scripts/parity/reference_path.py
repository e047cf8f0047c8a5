"""Where the PyTorch reference (ref_simclr.py) lives: beside the project, never copied into it.

TABCLR_REFERENCE names the script; otherwise ../shared/reference/ref_simclr.py is looked for from the repository
root and from its parent (a worktree sits one level deeper than the main checkout).
"""
import importlib.util
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def reference_script():
    given = os.environ.get("TABCLR_REFERENCE")
    candidates = [given] if given else [
        os.path.join(ROOT, "..", "shared", "reference", "ref_simclr.py"),
        os.path.join(ROOT, "..", "..", "shared", "reference", "ref_simclr.py"),
    ]
    for path in candidates:
        if path and os.path.isfile(path):
            return os.path.abspath(path)
    sys.exit(f"the PyTorch reference ref_simclr.py was not found ({', '.join(c for c in candidates if c)}); set TABCLR_REFERENCE")


def load_reference():
    """The reference as a module, to call its own loader and model code rather than a copy of them."""
    path = reference_script()
    spec = importlib.util.spec_from_file_location("ref_simclr", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
