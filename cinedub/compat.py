"""Fixes for third-party packages that do not load as shipped on a CPU machine, in one place.

torchvision 0.28.0, the only build matching torch 2.13, is a CUDA build: its `_C` operator library does
not load on CPU, and `import torchvision` then fails with "operator torchvision::nms does not exist",
because its fake-tensor registrations need the operators' schemas. Defining those two schemas first
(a torch.library FRAGMENT) lets it import; the image transforms qwen-vl-utils and transformers' video
processors use are pure Python and work. The schemas are defined only when `_C` really fails to load,
and lazily, by an import hook, so `import cinedub` does not import torch.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

# The operators torchvision registers fake kernels for with torch.library.register_fake (which needs a
# schema); its other meta registrations are skipped when `_C` is missing.
TORCHVISION_OP_SCHEMAS: tuple[str, ...] = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_fragment = None  # the torch.library.Library holding the schemas; kept alive for the process


def define_torchvision_op_schemas() -> bool:
    """Define torchvision's operator schemas if its compiled ops cannot load. True if it defined them."""
    global _fragment
    if _fragment is not None:
        return True
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    import torch

    if hasattr(torch.ops.torchvision, "nms"):
        return False
    library = Path(next(iter(spec.submodule_search_locations))) / "_C.so"
    try:
        torch.ops.load_library(str(library))
        return False  # a build whose ops load: nothing to fix
    except (OSError, RuntimeError):
        pass
    _fragment = torch.library.Library("torchvision", "FRAGMENT")
    for schema in TORCHVISION_OP_SCHEMAS:
        _fragment.define(schema)
    return True


class _TorchvisionFix(importlib.abc.MetaPathFinder):
    """Runs the fix just before the first `import torchvision`, whoever imports it (transformers, qwen-vl-utils)."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            define_torchvision_op_schemas()
        return None  # the normal finders import it


def install_torchvision_fix() -> None:
    """Idempotent; a no-op when torchvision is already imported."""
    if "torchvision" in sys.modules:
        return
    if not any(isinstance(finder, _TorchvisionFix) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionFix())
