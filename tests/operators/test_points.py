import numpy as np
import pytest

from sklearn_coded.operators import coding_points, make_points


@pytest.mark.parametrize("n", [2, 3, 8, 31])
def test_families_follow_the_formulas_of_method_md(n):
    i = np.arange(1, n + 1)
    formulas = {
        "chebyshev": -np.cos((2 * i - 1) * np.pi / (2 * n)),
        "chebyshev2": -np.cos((i - 1) * np.pi / (n - 1)),
        "uniform": np.linspace(-1, 1, n),
    }
    for family, expected in formulas.items():
        points = make_points(family, n)
        # the sin form differs from -cos by rounding only
        np.testing.assert_allclose(points, expected, rtol=0, atol=4e-16)
        # exactly symmetric and sorted
        np.testing.assert_array_equal(points, -points[::-1])
        assert np.all(np.diff(points) > 0)
    assert make_points("chebyshev2", n)[[0, -1]].tolist() == [-1.0, 1.0]


def test_bacc_placement_is_the_public_codes():
    K, N = 5, 10
    alpha, beta = coding_points("bacc", K, N)
    np.testing.assert_allclose(
        alpha, np.sort(np.cos((2 * np.arange(K) + 1) * np.pi / (2 * K))), atol=1e-16
    )
    np.testing.assert_allclose(beta, np.sort(np.cos(np.arange(N) * np.pi / N)), atol=1e-16)
    # with N = 2K every data point is also a coded point: the case the public
    # code divides by zero on
    assert np.isin(alpha, beta).all()


def test_explicit_pair_of_points():
    alpha, beta = coding_points(([-0.5, 0.5], "uniform"), 2, 3)
    np.testing.assert_array_equal(alpha, [-0.5, 0.5])
    np.testing.assert_array_equal(beta, [-1, 0, 1])


@pytest.mark.parametrize(
    "points, match",
    [
        (([0.5, -0.5], "uniform"), "strictly increasing"),
        (([-1.5, 0.5], "uniform"), r"inside \[-1, 1\]"),
        (([-0.5, np.nan], "uniform"), "finite"),
        (([-0.5, 0.0, 0.5], "uniform"), "has 3 points but 2"),
        ("gauss", "points must be one of"),
        (("uniform",), "pair"),
    ],
)
def test_bad_points_are_named(points, match):
    with pytest.raises(ValueError, match=match):
        coding_points(points, 2, 3)


def test_too_few_points():
    with pytest.raises(ValueError, match="at least 2 coded points; got n_points=1"):
        coding_points("chebyshev", 4, 1)
