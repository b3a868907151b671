"""The output space a coded estimator decodes in, and the picklable worker callable.

Decoding is linear, so it works best on an output that varies smoothly along the
code's curve u(z) in input space. For classifiers the spaces are, in order of
preference (logits and log-probabilities decode to the same predictions and
probabilities; probabilities decode worse: see
:class:`~sklearn_coded.estimators.CodedClassifier` for the measurement):

- ``"logits"``: the raw module output of a skorch net trained with
  ``CrossEntropyLoss``; ``softmax`` gives the probabilities;
- ``"binary_logits"``: the single logit of a skorch net trained with
  ``BCEWithLogitsLoss``; ``sigmoid`` gives the positive class probability;
- ``"decision_function"``: the inner estimator's decision function (1-D for
  binary problems);
- ``"log_proba"``: ``log(predict_proba)`` floored at the smallest normal float;
  equal to the logits up to a per-row constant, so softmax inverts it;
- ``"proba"``: ``predict_proba`` itself, the last resort;
- ``"predict"``: regressors decode their predictions.
"""

import numpy as np
from scipy.special import expit, softmax

#: Spaces whose decoded values are scores: argmax / sign predicts, softmax / sigmoid
#: gives probabilities.
SCORE_SPACES = ("logits", "binary_logits", "decision_function", "log_proba")
#: Spaces exposed by ``decision_function`` of the coded classifier.
DECISION_SPACES = ("logits", "binary_logits", "decision_function")
#: Spaces with one column for a binary problem.
ONE_COLUMN_SPACES = ("binary_logits",)


def is_skorch_net(estimator):
    """True for a skorch ``NeuralNet`` (checked by class name, without importing skorch)."""
    return any(
        cls.__name__ == "NeuralNet" and cls.__module__.startswith("skorch")
        for cls in type(estimator).__mro__
    )


def has_method(estimator, name):
    """Whether an (unfitted or fitted) estimator offers ``name``, without raising."""
    try:
        return callable(getattr(estimator, name, None))
    except Exception:  # available_if-style probes may raise anything
        return False


def inner_has(name):
    """``available_if`` check: the (fitted, else unfitted) inner estimator has ``name``."""

    def check(self):
        return has_method(getattr(self, "estimator_", self.estimator), name)

    return check


def classifier_space(estimator):
    """The output space a fitted classifier is decoded in (see the module docstring)."""
    if is_skorch_net(estimator):
        import torch  # skorch nets need torch anyway

        criterion = getattr(estimator, "criterion_", None)
        if isinstance(criterion, torch.nn.CrossEntropyLoss):
            return "logits"
        if isinstance(criterion, torch.nn.BCEWithLogitsLoss):
            return "binary_logits"
        return "log_proba"
    if has_method(estimator, "decision_function"):
        return "decision_function"
    if has_method(estimator, "predict_proba"):
        return "log_proba"
    raise TypeError(
        f"estimator={estimator!r} has neither decision_function nor predict_proba; "
        "a coded classifier needs a continuous output to decode."
    )


class WorkerResponse:
    """What one worker computes: the inner estimator's output in a space, as a 2-D array.

    Picklable (a module-level class holding the fitted estimator), so an executor
    or a dask cluster can ship it to workers.

    Parameters
    ----------
    estimator : fitted estimator
    space : str
        One of ``"logits"``, ``"binary_logits"``, ``"decision_function"``,
        ``"log_proba"``, ``"proba"``, ``"predict"``.
    """

    def __init__(self, estimator, space):
        self.estimator = estimator
        self.space = space

    def response(self, X):
        """The output of ``estimator`` on rows ``X`` in ``space``, shape (n_rows, n_outputs)."""
        est, space = self.estimator, self.space
        if is_skorch_net(est):  # skorch modules hold float32 weights
            X = np.asarray(X, dtype=np.float32)
        if space in ("logits", "binary_logits"):
            out = est.forward(X, training=False, device="cpu")
            if isinstance(out, tuple | list):  # skorch: the first output is the prediction
                out = out[0]
            out = out.detach().numpy()
        elif space == "decision_function":
            out = est.decision_function(X)
        elif space in ("log_proba", "proba"):
            out = np.asarray(est.predict_proba(X))
            if space == "log_proba":
                out = np.log(np.maximum(out, np.finfo(out.dtype).tiny))
        elif space == "predict":
            out = est.predict(X)
        else:  # pragma: no cover - spaces are set by the estimators of this package
            raise ValueError(f"Unknown output space {space!r}.")
        out = np.asarray(out)
        return out.reshape(out.shape[0], -1)


def scores_to_proba(scores):
    """Probabilities from decoded scores: sigmoid of one column, softmax of several."""
    if scores.ndim == 1:
        p = expit(scores)
        return np.column_stack([1.0 - p, p])
    return softmax(scores, axis=1)


def renormalize_proba(proba):
    """Clip decoded probabilities to [0, inf) and rescale each row to sum to 1."""
    proba = np.clip(proba, 0.0, None)
    total = proba.sum(axis=1, keepdims=True)
    n_classes = proba.shape[1]
    return np.where(total > 0, proba / np.where(total > 0, total, 1.0), 1.0 / n_classes)
