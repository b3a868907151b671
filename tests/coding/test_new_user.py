"""What a new user hits first with the coders: DataFrames in and out, and size mismatches."""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
)

from sklearn_coded import (
    BerrutDecoder,
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)

ENCODERS = [SplineEncoder, BerrutEncoder, LagrangeEncoder]
DECODERS = [SplineDecoder, BerrutDecoder, LagrangeDecoder]


def frame(n_rows, n_cols, seed=0):
    X = np.random.default_rng(seed).normal(size=(n_rows, n_cols))
    return pd.DataFrame(X, columns=[f"c{j}" for j in range(n_cols)], index=range(100, 100 + n_rows))


@pytest.mark.parametrize(("encoder_cls", "decoder_cls"), list(zip(ENCODERS, DECODERS, strict=True)))
def test_pandas_output_round_trip(encoder_cls, decoder_cls):
    """DataFrame in, DataFrame out: coded rows 0..N-1, decoded rows 0..K-1, columns kept.

    The values equal the plain numpy path's (the oracle); the Lagrange round trip with
    N >= K and no stragglers returns the batch itself (LCC is exact).
    """
    X = frame(16, 8)
    encoder = encoder_cls(n_coded=32).set_output(transform="pandas").fit(X)
    coded = encoder.transform(X)
    assert isinstance(coded, pd.DataFrame)
    assert list(coded.columns) == list(X.columns)
    assert list(coded.index) == list(range(32))
    np.testing.assert_array_equal(
        coded.to_numpy(), encoder_cls(n_coded=32).fit_transform(X.to_numpy())
    )

    decoder = decoder_cls(n_samples=16).set_output(transform="pandas").fit(coded)
    decoded = decoder.transform(coded)
    assert isinstance(decoded, pd.DataFrame)
    assert list(decoded.columns) == list(X.columns)
    assert list(decoded.index) == list(range(16))
    plain = decoder_cls(n_samples=16).fit(coded.to_numpy()).transform(coded.to_numpy())
    np.testing.assert_array_equal(decoded.to_numpy(), plain)
    if encoder_cls.scheme == "lagrange":
        np.testing.assert_allclose(decoded.to_numpy(), X.to_numpy(), atol=1e-8)


# the checks mix DataFrame and array inputs on purpose
@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.filterwarnings("ignore:X has feature names")
@pytest.mark.parametrize("coder", [SplineEncoder(n_coded=160), SplineDecoder(n_samples=4)])
def test_sklearn_set_output_checks(coder):
    """scikit-learn's set_output checks (not run by parametrize_with_checks in 1.9).

    The default output must not change; the pandas checks build their expected frame
    with the *input's* index, which does not fit a coder's output (other rows come
    out), and that is the only way they may fail.
    """
    name = type(coder).__name__
    check_set_output_transform(name, coder)
    for check in (check_set_output_transform_pandas, check_global_output_transform_pandas):
        with pytest.raises((AssertionError, ValueError), match=r"(?s)index|indices imply"):
            check(name, coder)


@pytest.mark.parametrize("encoder_cls", ENCODERS)
def test_encoder_refuses_more_rows_than_coded_rows(encoder_cls):
    X = np.ones((16, 8))
    encoder = encoder_cls(n_coded=8).fit(X[:8])
    assert encoder.transform(X[:8]).shape == (8, 8)  # N = K is a code
    with pytest.raises(ValueError, match=rf"{encoder_cls.__name__}\(n_coded=8\) got a batch of 16"):
        encoder.transform(X)
    with pytest.raises(ValueError, match=r"N >= K"):
        encoder_cls(n_coded=8).fit_transform(X)


@pytest.mark.parametrize("decoder_cls", DECODERS)
def test_decoder_refuses_more_rows_than_results(decoder_cls):
    Y = np.ones((32, 3))
    with pytest.raises(
        ValueError, match=rf"{decoder_cls.__name__}\(n_samples=64\) was fitted to 32"
    ):
        decoder_cls(n_samples=64).fit_transform(Y)
    assert decoder_cls(n_samples=32).fit_transform(Y).shape == (32, 3)  # K = N decodes
