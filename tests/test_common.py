"""scikit-learn's common checks over every estimator, with reasoned expected failures."""

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_coded import (
    BerrutDecoder,
    BerrutEncoder,
    ExactDecoder,
    ExactEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)
from sklearn_coded.estimators import CodedClassifier, CodedRegressor

ROWS_CHANGE = (
    "A coder maps K rows to N rows (or back): the transformed output does not have "
    "one row per input row, which this check assumes."
)
ROWS_COUPLED = (
    "Every output row is a combination of all rows of the batch, so permuting or "
    "subsetting the rows changes every output: the coupling is the method."
)
CODER_FAILURES = {
    "check_transformer_general": ROWS_CHANGE,
    "check_transformer_data_not_an_array": ROWS_CHANGE,
    "check_methods_sample_order_invariance": ROWS_COUPLED,
    "check_methods_subset_invariance": ROWS_COUPLED,
}
DECODER_FAILURES = {
    **CODER_FAILURES,
    "check_fit_idempotent": (
        "A decoder is fitted to N workers and transform needs one row per worker; "
        "the check transforms a test set of another size."
    ),
}

SECRET_PADDING = (
    "n_private > 0 pads every transform with fresh noise from the operating system's "
    "secret source (issue 16.1): two transforms of the same rows differ by design, so "
    "outputs before and after pickling or refitting cannot be compared."
)
PRIVATE_ENCODER_FAILURES = {
    **CODER_FAILURES,
    "check_estimators_pickle": SECRET_PADDING,
    "check_fit_idempotent": SECRET_PADDING,
}

PREDICTOR_ROWS_COUPLED = (
    "Every prediction is decoded from coded rows that mix all K rows of its batch, "
    "so predicting a permuted set or a subset changes the predictions (by the "
    "approximation error of the code): the coupling is the method."
)
PREDICTOR_FAILURES = {
    "check_methods_sample_order_invariance": PREDICTOR_ROWS_COUPLED,
    "check_methods_subset_invariance": PREDICTOR_ROWS_COUPLED,
}

ESTIMATORS = [
    SplineEncoder(n_coded=160),
    SplineEncoder(n_coded=160, smoothing="gcv", points="uniform"),
    BerrutEncoder(n_coded=160, points="bacc"),
    LagrangeEncoder(n_coded=160),
    # Secret padding (tagged non-deterministic); the checks transform the same rows
    # many times, so no leakage budget.
    SplineEncoder(n_coded=160, n_private=1, leakage_budget=None),
    BerrutEncoder(n_coded=160, n_private=1, max_leakage=0.5, leakage_budget=None),
    SplineDecoder(n_samples=4),
    SplineDecoder(n_samples=4, smoothing=1e-3, points="chebyshev2"),
    BerrutDecoder(n_samples=4),
    LagrangeDecoder(n_samples=4),
    ExactEncoder(n_coded=200),  # N >= the checks' batch sizes (the recovery threshold)
    ExactEncoder(n_coded=200, code="rotation"),
    ExactDecoder(n_samples=4),
    CodedClassifier(LogisticRegression()),
    CodedClassifier(
        LogisticRegression(),
        scheme="berrut",
        batch_size=5,
        n_coded=12,
        stragglers=2,
        randomized=True,
        n_draws=2,
        random_state=0,
    ),
    # Hard 0/1 probabilities (log-probabilities of -708 decoded): predict_log_proba
    # must still be log(predict_proba), -inf included (check_classifiers_train).
    CodedClassifier(DecisionTreeClassifier(random_state=0)),
    CodedClassifier(KNeighborsClassifier(), batch_size=5, n_coded=12),
    CodedRegressor(Ridge()),
    CodedRegressor(Ridge(), scheme="lagrange", batch_size=4, n_coded=6, points="chebyshev2"),
    CodedRegressor(Ridge(), smoothing="gcv", stragglers=0.1, random_state=0),
]


def _exact_coded(estimator):
    """Rows decouple where the code is exact at S = 0.

    Lagrange with N >= K and no stragglers inverts the encoder, and Ridge is
    linear; the spline and Berrut codes' ``points="auto"`` is the systematic
    layout, whose data workers return f(x_k) itself (without randomization).
    """
    if estimator.scheme == "lagrange":
        return True
    systematic = estimator.points == "auto" and not estimator.randomized
    return estimator.scheme in ("spline", "berrut") and systematic and not estimator.stragglers


def expected_failed_checks(estimator):
    name = type(estimator).__name__
    if name.startswith("Coded") and _exact_coded(estimator):
        return {}
    if isinstance(getattr(estimator, "estimator", None), DecisionTreeClassifier):
        # The checks' tree separates its classes with log-probabilities 0 and
        # -708: decoded scores differ by hundreds and mostly saturate to the same
        # 0/1 probabilities whatever the other rows of the batch, so the subset
        # check passes; the permuted set of the order check moves one row's
        # decoded scores across a class boundary.
        return {"check_methods_sample_order_invariance": PREDICTOR_ROWS_COUPLED}
    if name.startswith("Coded"):
        return PREDICTOR_FAILURES
    if getattr(estimator, "n_private", 0) and name.endswith("Encoder"):
        return PRIVATE_ENCODER_FAILURES
    return DECODER_FAILURES if name.endswith("Decoder") else CODER_FAILURES


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    # Some checks draw from numpy's global generator (the permutation of
    # check_methods_sample_order_invariance): seed it, so that a check's outcome
    # does not depend on the tests that ran before it.
    np.random.seed(0)  # noqa: NPY002 - the checks use the legacy global generator
    with warnings.catch_warnings():
        # Trees and k-NN are warned about at fit (not smooth along the code): that
        # warning is the documented behaviour here, not a failure of the check.
        warnings.filterwarnings("ignore", message=".* far from smooth along the code")
        check(estimator)
