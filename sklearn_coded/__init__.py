"""sklearn_coded: coded computing (LeTCC, BACC, LCC) as scikit-learn objects.

``import sklearn_coded`` is instant and needs only numpy, SciPy and scikit-learn:
every public name of the subpackages is importable from here and imported on
first use (PEP 562), and the torch, skorch and dask parts are optional extras
imported where they are used (``from sklearn_coded import make_coded_net`` needs
torch; ``from sklearn_coded import SplineEncoder`` does not). ``CodedClassifier`` and
``CodedRegressor`` work around any estimator without torch; only coded-smoothing
training of skorch nets imports it.
"""

import importlib

__version__ = "0.1.0.dev0"

#: Every public name of the subpackages (their ``__all__`` less the constants) -> its
#: subpackage, imported on first use. ``tests/test_public_api.py`` keeps it complete.
_LAZY = {
    # layer 2: the coders
    "adversary_bound": "coding",
    "BaseDecoder": "coding",
    "BaseEncoder": "coding",
    "BerrutDecoder": "coding",
    "BerrutEncoder": "coding",
    "CodingPlan": "coding",
    "ExactDecoder": "coding",
    "ExactEncoder": "coding",
    "LagrangeDecoder": "coding",
    "LagrangeEncoder": "coding",
    "ParityModel": "coding",
    "replica_rows": "coding",
    "ReplicationDecoder": "coding",
    "ReplicationEncoder": "coding",
    "SplineDecoder": "coding",
    "SplineEncoder": "coding",
    "TrainingPlan": "coding",
    "TooFewParitiesError": "coding",
    "UncertifiedDecodeError": "coding",
    "CertificationWarning": "coding",
    "certified_adversaries": "coding",
    # layer 1: the math (numpy and SciPy)
    "berrut_operator": "operators",
    "coding_operator": "operators",
    "coding_points": "operators",
    "colluder_information": "operators",
    "collusion_r2": "operators",
    "exact_code": "operators",
    "exact_decode": "operators",
    "exact_encode": "operators",
    "exact_leakage": "operators",
    "exact_noise_scale": "operators",
    "ExactCode": "operators",
    "flush_tiny": "operators",
    "gaussian_leakage": "operators",
    "information_for_leakage": "operators",
    "lagrange_operator": "operators",
    "leakage_bound": "operators",
    "LeakageBudgetError": "operators",
    "LeakageLedger": "operators",
    "lmmse_leakage": "operators",
    "l1_locate_liars": "operators",
    "l1_recovery_bound": "operators",
    "locate_liars": "operators",
    "locate_loo": "operators",
    "locate_rational": "operators",
    "locate_span": "operators",
    "make_points": "operators",
    "n_noise_rows": "operators",
    "private_layout": "operators",
    "rational_locator_bound": "operators",
    "span_candidate_scores": "operators",
    "span_consistency_scores": "operators",
    "span_locatable": "operators",
    "span_locator_bound": "operators",
    "span_residuals": "operators",
    "spline_gcv": "operators",
    "spline_loo_residuals": "operators",
    "spline_operator": "operators",
    "worst_condition": "operators",
    # layer 3: running the workers
    "AdaptiveAdversaries": "execution",
    "BaseAdversaries": "execution",
    "BaseStragglers": "execution",
    "check_adversaries": "execution",
    "check_stragglers": "execution",
    "ChoosingAdversaries": "execution",
    "coded_matmul": "execution",
    "ExecutorLostError": "execution",
    "FixedStragglers": "execution",
    "GroupStragglers": "execution",
    "TargetedStragglers": "execution",
    "GrossErrors": "execution",
    "InsufficientResultsError": "execution",
    "CollusionError": "execution",
    "LatencyStragglers": "execution",
    "matdot_matmul": "execution",
    "RandomStragglers": "execution",
    "run_workers": "execution",
    "SignFlips": "execution",
    "StragglerPlan": "execution",
    "TargetedShift": "execution",
    # layer 4: the meta-estimators
    "CoalescingPredictor": "estimators",
    "CodedClassifier": "estimators",
    "CodedRegressor": "estimators",
    "compare_schemes": "estimators",
    "SchemeComparison": "estimators",
    "Diagnostics": "estimators",
    "RequestDiagnostics": "estimators",
    "UncertifiedBatchError": "estimators",
    "UncertifiedBatchWarning": "estimators",
    # layer 5: torch (needs the torch extra; imported on first use)
    "coded_block": "nn",
    "coded_forward": "nn",
    "coded_net_class": "nn",
    "coded_smoothing_loss": "nn",
    "CodedLoss": "nn",
    "CodedSmoothing": "nn",
    "CodedSmoothingMixin": "nn",
    "frechet_distance": "nn",
    "inception_score": "nn",
    "make_coded_net": "nn",
    "RandomizedCodedModule": "nn",
    # offline data sets
    "load_fashion_mnist": "datasets",
}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
