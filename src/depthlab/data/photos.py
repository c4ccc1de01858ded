"""Real photographs as surface textures: scikit-image's bundled images give natural statistics with no download."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# skimage.data loaders of bundled (offline) photographs: natural textures, objects, scenes and text
PHOTOS = (
    "brick",
    "grass",
    "gravel",
    "coffee",
    "chelsea",
    "astronaut",
    "rocket",
    "camera",
    "coins",
    "moon",
    "page",
    "text",
    "immunohistochemistry",
    "stereo_motorcycle",
)
TEXTURE_SIZE = 128  # pixels per side of each texture tile


@lru_cache(maxsize=1)
def photo_textures() -> np.ndarray:
    """[N, 3, S*S] float64 RGB in [0, 1]: each photo centre-cropped square and resized to S x S, flattened."""
    import skimage.data  # imported here: rendering without photo textures never pays for it

    tiles = []
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        image = image[0] if isinstance(image, tuple) else image  # stereo pairs: the left view
        image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        square = np.ascontiguousarray(image[top : top + side, left : left + side])
        tile = cv2.resize(square, (TEXTURE_SIZE, TEXTURE_SIZE), interpolation=cv2.INTER_AREA)
        tiles.append(tile.reshape(-1, 3).T.astype(np.float64) / 255.0)
    return np.stack(tiles)


def sample_photo(index: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(3, N) colours of photo `index` at texture coordinates (u, v) in tiles, mirror-repeated (no seams)."""
    u, v = np.abs((u + 1.0) % 2.0 - 1.0), np.abs((v + 1.0) % 2.0 - 1.0)  # triangle wave in [0, 1]
    col = np.minimum((u * TEXTURE_SIZE).astype(np.int64), TEXTURE_SIZE - 1)
    row = np.minimum(((1.0 - v) * TEXTURE_SIZE).astype(np.int64), TEXTURE_SIZE - 1)
    flat = row * TEXTURE_SIZE + col
    tile = photo_textures()[index]
    return np.stack([tile[k].take(flat) for k in range(3)])
