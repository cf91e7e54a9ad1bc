"""Render the bundled sample scenes from scikit-image's sample data (public domain / CC0, see
LICENSES.md): 640x480 JPEGs, one with a person, three without.

    python -m nodes.vision.samples.render      # needs scikit-image (the test extra)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SIZE = (640, 480)
SCENES = {  # file -> scikit-image loader name
    "01_astronaut.jpg": "astronaut",  # Eileen Collins, NASA, public domain
    "02_coffee.jpg": "coffee",  # Rachel Michetti, CC0
    "03_chelsea.jpg": "chelsea",  # Stefan van der Walt, CC0
    "04_rocket.jpg": "rocket",  # SpaceX, public domain
}


def cover(image: np.ndarray, size: tuple[int, int] = SIZE) -> np.ndarray:
    """Scale to cover ``size`` and crop the centre (RGB or grey in, BGR out)."""
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    h, w = image.shape[:2]
    s = max(size[0] / w, size[1] / h)
    scaled = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    y, x = (scaled.shape[0] - size[1]) // 2, (scaled.shape[1] - size[0]) // 2
    return scaled[y:y + size[1], x:x + size[0]]


def main() -> None:
    from skimage import data

    for name, loader in SCENES.items():
        frame = cover(getattr(data, loader)())
        cv2.imwrite(str(HERE / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 75])
        print(f"{name}: {(HERE / name).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
