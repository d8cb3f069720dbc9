"""Image files as a torch Dataset: the one way every stage feeds images to a network.

``ImageFiles(paths, transform, labels, keys)`` yields ``(image, label, ok)``. ``prepare_data``
has already left unreadable files out of the index, so a bad file here is one that changed since;
with ``data.on_bad_image=skip`` it gives ``ok=False`` (with ``error`` it raises), and
``collate_images`` keeps its place in the batch with a zero image, so batch positions always match
dataset indices and every consumer drops it the same way: by ``ok``.

With ``keys``, the transform is called as ``transform(image, key)``: the key carries what differs
per item - the view of a stylization source (0 = as is, 1 = mirrored) for ``SquareView``, the seed
of a random augmented view for ``SeededView``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import functional as TF

from stylaug.data.images import read_image, square_crop
from stylaug.data.scenarios import apply_view


class ImageFiles(torch.utils.data.Dataset):
    def __init__(
        self,
        paths: Sequence,
        transform: Callable,
        labels: Sequence[int] | None = None,
        keys: Sequence | None = None,
        on_bad_image: str = "skip",
    ):
        self.paths = [str(p) for p in paths]
        self.transform = transform
        self.labels = list(labels) if labels is not None else [0] * len(self.paths)
        self.keys = list(keys) if keys is not None else None
        self.on_bad_image = on_bad_image

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img = read_image(self.paths[i], self.on_bad_image)
        if img is None:
            return None, self.labels[i], False
        image = self.transform(img) if self.keys is None else self.transform(img, self.keys[i])
        return image, self.labels[i], True


def collate_images(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, labels, ok); an unreadable image is a zero image of the batch's shape."""
    shape = next((x.shape for x, _, ok in batch if ok), (3, 1, 1))
    images = torch.stack([x if ok else torch.zeros(shape) for x, _, ok in batch])
    labels = torch.tensor([y for _, y, _ in batch], dtype=torch.long)
    return images, labels, torch.tensor([ok for _, _, ok in batch], dtype=torch.bool)


def square_tensor(img, size: int) -> torch.Tensor:
    """PIL image -> (3, size, size) float tensor in [0, 1]: centre square, then resized. Cropping
    first keeps an extreme aspect ratio (a 1 x 4000 strip) from becoming a giant resized image."""
    img = TF.resize(square_crop(img), [int(size), int(size)], antialias=True)
    return TF.pil_to_tensor(img).float().div_(255.0)


class SquareView:
    """View ``key`` of a stylization source (0 = as is, 1 = mirrored) as a [0, 1] square."""

    def __init__(self, size: int):
        self.size = int(size)

    def __call__(self, img, view: int = 0) -> torch.Tensor:
        return square_tensor(apply_view(img, view), self.size)


class SeededView:
    """A random transform made a fixed function of (image, key): drawn from the seed ``key``, so
    view k of an image is the same picture in every run and its features can be cached."""

    def __init__(self, transform: Callable):
        self.transform = transform

    def __call__(self, img, seed: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return self.transform(img)


class SourceView:
    """A transform applied to view ``key`` of a stylization source (0 = as is, 1 = mirrored): the
    ``unstylized`` control sees exactly the pictures the style arms stylized."""

    def __init__(self, transform: Callable):
        self.transform = transform

    def __call__(self, img, view: int = 0):
        return self.transform(apply_view(img, view))
