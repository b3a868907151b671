"""Offline evaluation of generated samples: FID and Inception Score.

Both read the features and the logits of a classifier (for images, usually an
Inception network; here any classifier trained on the real data, since no
pretrained weights can be downloaded):

- Frechet distance of the Gaussians fitted to two feature sets,

      FID = |m_a - m_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))            (Heusel et al. 2017)

- Inception Score of class probabilities p(y|x),

      IS = exp(E_x KL(p(y|x) || p(y))),   p(y) = E_x p(y|x)           (Salimans et al. 2016)
"""

import numbers

import numpy as np
from scipy.special import log_softmax


def _as_2d(features, name):
    if hasattr(features, "detach"):
        features = features.detach().cpu().numpy()
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2 or not np.all(np.isfinite(array)):
        raise ValueError(
            f"{name} must be a finite 2-D array with >= 2 rows; got shape {array.shape}."
        )
    return array


def frechet_distance(features_a, features_b):
    """Frechet distance of Gaussians fitted to two feature sets (FID).

    ``|m_a - m_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))`` with m the means
    and S the covariances (``ddof=1``) of the rows. The trace of the square root
    is taken as ``sum sqrt(eig(S_a^(1/2) S_b S_a^(1/2)))`` (the same eigenvalues
    as S_a S_b; a symmetric matrix, so no complex round-off as with ``sqrtm``).

    Parameters
    ----------
    features_a, features_b : array-like or Tensor of shape (n, d) and (m, d)

    Returns
    -------
    fid : float
        >= 0; 0 for equal means and covariances.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.nn import frechet_distance
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(20000, 2))
    >>> b = 2 * rng.normal(size=(20000, 2)) + [3, 0]
    >>> # closed form: 3^2 + 2 * (1 + 4 - 2 * 2) = 11
    >>> round(frechet_distance(a, b), 1)
    11.0
    """
    a = _as_2d(features_a, "features_a")
    b = _as_2d(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"features_a and features_b must have the same columns; got {a.shape[1]} "
            f"and {b.shape[1]}."
        )
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    fid = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(fid, 0.0))


def inception_score(logits, *, n_splits=1):
    """Inception Score ``exp(E_x KL(p(y|x) || p(y)))`` of class logits.

    Parameters
    ----------
    logits : array-like or Tensor of shape (n, n_classes)
        Unnormalised log-probabilities of the classifier (softmax is applied).
    n_splits : int, default=1
        Score each of ``n_splits`` consecutive parts and average (the original
        recipe uses 10 parts of 5000 samples).

    Returns
    -------
    mean : float
        In [1, n_classes]: 1 when every sample gets the same distribution,
        n_classes for confident predictions spread evenly over the classes.
    std : float
        Standard deviation over the splits (0 for one split).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.nn import inception_score
    >>> confident = 50 * np.eye(4)[np.arange(100) % 4]  # even, one-hot-like
    >>> round(inception_score(confident)[0], 6)
    4.0
    >>> inception_score(np.zeros((10, 4)))
    (1.0, 0.0)
    """
    log_p = log_softmax(_as_2d(logits, "logits"), axis=1)
    if (
        not isinstance(n_splits, numbers.Integral)
        or isinstance(n_splits, bool)
        or not 1 <= n_splits <= log_p.shape[0]
    ):
        raise ValueError(
            f"n_splits must be an integer in [1, {log_p.shape[0]}] (the rows); got {n_splits!r}."
        )
    scores = []
    for part in np.array_split(log_p, n_splits):
        p = np.exp(part)
        log_marginal = np.log(p.mean(axis=0))
        scores.append(np.exp(np.mean(np.sum(p * (part - log_marginal), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))
