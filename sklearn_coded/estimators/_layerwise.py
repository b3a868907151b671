"""``CodedClassifier``/``CodedRegressor`` with ``scheme="layerwise"`` (docs/method.rst (9.9)).

The estimators' side of layer-wise private inference: fit the skorch net plainly,
plan its layers (:func:`~sklearn_coded.nn._layerwise.plan_layers`), and predict by
:func:`~sklearn_coded.nn._layerwise.layerwise_forward`. Here, above the torch layer,
so that every import points down. The scheme registers in ``coding/_exact.py``; the
estimators call :func:`fit_scheme` and :func:`scheme_response` (coding/_registry.py).
"""

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..nn._layerwise import layerwise_forward, plan_layers, resolve_code
from ._certify import check_process_collusion, declared_stragglers
from ._response import classifier_space, is_skorch_net


def fit_scheme(estimator, X, y, fit_params):
    """``_BaseCoded._fit`` for ``scheme="layerwise"``: fit the net plainly and plan it."""
    if estimator.mu > 0:
        raise ValueError(
            f"mu={estimator.mu!r}: coded-smoothing training is not part of "
            "scheme='layerwise' (which is exact); use mu=0."
        )
    inner = clone(estimator.estimator)
    if not is_skorch_net(inner):
        raise TypeError(
            "scheme='layerwise' needs a skorch net whose module is a "
            f"stack of Linear/Conv layers and elementwise nonlinearities; got "
            f"estimator={type(inner).__name__}."
        )
    inner.fit(X.astype(np.float32, copy=False), y, **fit_params)
    if is_classifier(estimator) and classifier_space(inner) not in ("logits", "binary_logits"):
        raise ValueError(
            f"scheme='layerwise' decodes the module's raw outputs, which must be logits: "
            f"train the classifier with criterion=CrossEntropyLoss or BCEWithLogitsLoss; "
            f"got criterion={type(inner.criterion_).__name__}."
        )
    probe = X[np.random.RandomState(0).permutation(len(X))[:512]]
    estimator._layerwise_steps = plan_layers(inner, probe)
    code = _code(estimator)  # errors at fit for impossible parameters, naming them
    # exact codes: any threshold results determine the code (docs/method.rst (9.6))
    S = declared_stragglers(estimator.stragglers, code.n_coded)
    A = int(estimator.n_adversaries)
    estimator.certified_adversaries_ = (code.n_coded - S - code.threshold) // 2 if A else None
    estimator.estimator_ = inner
    return estimator


def scheme_response(estimator, X):
    """``_BaseCoded._coded_response`` for ``scheme="layerwise"``."""
    check_is_fitted(estimator)
    estimator._validate_params()
    X = validate_data(estimator, X, reset=False, dtype=(np.float64, np.float32))
    code = _code(estimator)
    # the padding hides rows from T coded workers, not from a process computing more
    check_process_collusion(estimator.executor, code.n_coded, int(estimator.n_private))
    out = layerwise_forward(
        estimator._layerwise_steps,
        X,
        code,
        noise_scale=estimator.noise_scale,
        max_leakage=estimator.max_leakage,
        n_adversaries=estimator.n_adversaries,
        stragglers=estimator.stragglers,
        executor=estimator.executor,
        timeout=estimator.timeout,
        adversaries=estimator.adversaries,
        random_state=check_random_state(estimator.random_state),
    )
    return out.reshape(out.shape[0], -1)


def _code(estimator):
    """The exact code of the estimator's current parameters (``resolve_code``)."""
    return resolve_code(
        estimator.points,
        estimator.batch_size,
        estimator.n_coded,
        estimator.n_private,
        estimator.n_adversaries,
        estimator.stragglers,
    )[0]
