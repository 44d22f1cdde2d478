"""The Frechet distance between two Gaussians fitted to feature sets (FID and its variants)."""

from __future__ import annotations

import numpy as np

from d2mlib.validate import check_features, metric_error

FRECHET_EPS = 1e-6


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = FRECHET_EPS,
) -> float:
    """Frechet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``, with the trace of the square root taken
    as the sum of the square roots of the eigenvalues of the symmetric PSD matrix
    ``S1^(1/2) S2 S1^(1/2)`` (same spectrum as ``S1 S2``): real and finite even for singular
    covariances, which get ``eps`` on the diagonal first. Tiny negative results from rounding
    are clipped to 0.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise metric_error(
            f"mismatched Gaussian shapes: means {mu1.shape}, {mu2.shape}, "
            f"covariances {s1.shape}, {s2.shape}"
        )
    for arr, nm in ((mu1, "mu1"), (mu2, "mu2"), (s1, "sigma1"), (s2, "sigma2")):
        if not np.all(np.isfinite(arr)):
            raise metric_error(f"{nm} holds NaN or infinite values")
    s1 = 0.5 * (s1 + s1.T) + eps * np.eye(d)
    s2 = 0.5 * (s2 + s2.T) + eps * np.eye(d)
    w1, v1 = np.linalg.eigh(s1)
    root1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
    middle = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh(0.5 * (middle + middle.T))
    tr_covmean = float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def fid_from_features(real: np.ndarray, fake: np.ndarray, eps: float = FRECHET_EPS) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D)."""
    real = check_features(real, "real features", min_rows=2)
    fake = check_features(fake, "generated features", min_rows=2)
    if real.shape[1] != fake.shape[1]:
        raise metric_error(
            f"mismatched feature dimensions: real {real.shape[1]}, generated {fake.shape[1]}"
        )
    return frechet_distance(
        real.mean(axis=0),
        np.cov(real, rowvar=False),
        fake.mean(axis=0),
        np.cov(fake, rowvar=False),
        eps=eps,
    )
