"""The photorealism regulariser of Luan et al. (2017, Deep Photo Style Transfer).

The matting Laplacian M_I of the content image (Levin, Lischinski and Weiss 2008) penalises output
colours that are not a locally affine function of the content's colours in every 3x3 window:
sum_c V_c[O]^T M_I V_c[O] is ~0 for a locally affine recolouring and large for anything else, so
the stylized image keeps the content's edges and stays photo-like.

The Laplacian is built once per content image as a sparse matrix with at most 25 non-zeros per row
(every pair of pixels sharing a 3x3 window), accumulated diagonal by diagonal - never a dense
N x N matrix: 256x256 takes ~20 MB. The regulariser is a custom autograd function over a torch
sparse CSR matrix (float64: with epsilon ~1e-7 the entries are large and float32 would lose the
cancellation that makes affine recolourings cost ~0).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch


def matting_laplacian(image: np.ndarray, epsilon: float = 1e-7, radius: int = 1) -> sp.csr_matrix:
    """Levin et al.'s matting Laplacian of an (H, W, 3) image in [0, 1], as an N x N CSR matrix.

    L_ij = sum over windows k holding i and j of
        delta_ij - (1 + (I_i - mu_k)^T (Sigma_k + epsilon/|w| Id)^-1 (I_j - mu_k)) / |w|
    with |w| = (2 radius + 1)^2 pixels per window. Pixel index = y * W + x (row-major).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"matting_laplacian needs an (H, W, 3) image, got shape {image.shape}")
    h, w, _ = image.shape
    k = 2 * radius + 1
    if h < k or w < k:
        raise ValueError(f"image {w}x{h} is smaller than one {k}x{k} window")
    n_win = k * k
    hc, wc = h - k + 1, w - k + 1  # window centres with a full window
    offsets = [(dy, dx) for dy in range(k) for dx in range(k)]
    patches = [image[dy : dy + hc, dx : dx + wc] for dy, dx in offsets]  # views, (hc, wc, 3)
    mean = sum(patches) / n_win
    cov = sum(p[..., :, None] * p[..., None, :] for p in patches) / n_win
    cov -= mean[..., :, None] * mean[..., None, :]
    inv = np.linalg.inv(cov + (epsilon / n_win) * np.eye(3))  # (hc, wc, 3, 3)
    centred = [p - mean for p in patches]
    del patches, cov
    span = 2 * k - 1  # offsets between two pixels of a window: -(k-1) .. k-1 in y and x
    diagonals = np.zeros((span, span, h, w))  # diagonals[oy, ox, y, x] = L[(y, x), (y+oy, x+ox)]
    for a, (ay, ax) in enumerate(offsets):
        projected = np.einsum("hwi,hwij->hwj", centred[a], inv)  # (I_a - mu)^T inverse
        for b, (by, bx) in enumerate(offsets):
            value = -(1.0 + np.einsum("hwj,hwj->hw", projected, centred[b])) / n_win
            if a == b:
                value += 1.0
            diagonals[by - ay + k - 1, bx - ax + k - 1, ay : ay + hc, ax : ax + wc] += value
    del centred, projected, inv
    # CSR straight from the diagonals: row (y, x) holds columns (y+oy, x+ox) in (oy, ox) order,
    # which is increasing column order; offsets that leave the image are dropped.
    oy, ox = np.meshgrid(np.arange(-(k - 1), k), np.arange(-(k - 1), k), indexing="ij")
    oy, ox = oy.ravel(), ox.ravel()
    ys, xs = np.divmod(np.arange(h * w), w)
    valid = (
        (ys[:, None] + oy >= 0)
        & (ys[:, None] + oy < h)
        & (xs[:, None] + ox >= 0)
        & (xs[:, None] + ox < w)
    )
    index_dtype = np.int32 if h * w < 2**31 else np.int64
    cols = (np.arange(h * w, dtype=index_dtype)[:, None] + (oy * w + ox).astype(index_dtype))[valid]
    data = diagonals.reshape(span * span, h * w).T[valid]
    del diagonals
    indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).astype(index_dtype)
    laplacian = sp.csr_matrix((data, cols, indptr), shape=(h * w, h * w))
    laplacian.eliminate_zeros()
    return laplacian


def sparse_megabytes(matrix) -> float:
    """Memory held by a scipy CSR matrix or a torch sparse CSR tensor."""
    if isinstance(matrix, torch.Tensor):
        parts = (matrix.crow_indices(), matrix.col_indices(), matrix.values())
        return sum(t.numel() * t.element_size() for t in parts) / 2**20
    return (matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes) / 2**20


def to_torch(matrix: sp.csr_matrix, device=None) -> torch.Tensor:
    """scipy CSR -> torch sparse CSR (float64, int32 indices when they fit)."""
    index_dtype = np.int32 if matrix.nnz < 2**31 else np.int64
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(index_dtype)),
            torch.from_numpy(matrix.indices.astype(index_dtype)),
            torch.from_numpy(matrix.data.astype(np.float64)),
            size=matrix.shape,
            device=device,
            check_invariants=True,
        )


class _QuadraticForm(torch.autograd.Function):
    """sum_c v_c^T L v_c for a symmetric sparse L; its gradient is 2 L v (one sparse product)."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, laplacian: torch.Tensor) -> torch.Tensor:
        lv = laplacian @ v
        ctx.save_for_backward(lv)
        return (v * lv).sum()

    @staticmethod
    def backward(ctx, grad):
        (lv,) = ctx.saved_tensors
        return 2.0 * grad * lv, None


def photorealism_loss(image: torch.Tensor, laplacian: torch.Tensor) -> torch.Tensor:
    """Luan et al.'s regulariser for one (1, 3, H, W) image and its content's (N, N) Laplacian."""
    n, c, h, w = image.shape
    if n != 1 or laplacian.shape[0] != h * w:
        raise ValueError(
            f"the matting Laplacian is for {laplacian.shape[0]} pixels (one content image); "
            f"got images of shape {tuple(image.shape)}"
        )
    v = image[0].reshape(c, h * w).t().to(torch.float64)  # (N, 3): one column per channel
    return _QuadraticForm.apply(v, laplacian).to(image.dtype)


class PhotorealTerm:
    """A Gatys loss term (image, features) -> regulariser, with the Laplacian built once."""

    def __init__(self, content: torch.Tensor, epsilon: float = 1e-7):
        arr = content[0].permute(1, 2, 0).detach().cpu().double().numpy()
        self.laplacian = to_torch(matting_laplacian(arr, epsilon), device=content.device)
        self.megabytes = sparse_megabytes(self.laplacian)

    def __call__(self, image: torch.Tensor, features=None) -> torch.Tensor:
        return photorealism_loss(image, self.laplacian)


def block_laplacian(images: torch.Tensor, epsilon: float = 1e-7) -> torch.Tensor:
    """The matting Laplacians of a batch (N, 3, H, W) as one block-diagonal sparse matrix, so the
    regulariser of every image is one sparse product (``batch_photorealism_loss``)."""
    arrays = images.detach().permute(0, 2, 3, 1).cpu().double().numpy()
    blocks = sp.block_diag([matting_laplacian(a, epsilon) for a in arrays], format="csr")
    return to_torch(blocks, device=images.device)


def batch_photorealism_loss(images: torch.Tensor, laplacian: torch.Tensor) -> torch.Tensor:
    """Sum over a batch of Luan et al.'s regulariser, with ``block_laplacian``'s matrix."""
    n, c, h, w = images.shape
    if laplacian.shape[0] != n * h * w:
        raise ValueError(
            f"the block Laplacian is for {laplacian.shape[0]} pixels, the batch has {n * h * w}"
        )
    v = images.permute(0, 2, 3, 1).reshape(n * h * w, c).to(torch.float64)
    return _QuadraticForm.apply(v, laplacian).to(images.dtype)
