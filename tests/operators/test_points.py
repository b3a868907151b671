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


def test_bacc_orientation_matches_the_public_formulas_when_rows_are_reversed():
    """The public code puts row j at cos((2j + 1) pi / 2K), decreasing in j; ours ascend."""
    from sklearn_coded.operators import berrut_operator

    K, N = 6, 17
    rng = np.random.default_rng(0)
    X = rng.standard_normal((K, 3))
    j, n = np.arange(K), np.arange(N)
    alpha_public, z_public = np.cos((2 * j + 1) * np.pi / (2 * K)), np.cos(n * np.pi / N)
    # r(z) = sum_j ((-1)^j / (z - alpha_j)) X_j / sum_j ((-1)^j / (z - alpha_j)), public order
    w = (-1.0) ** j / (z_public[:, None] - alpha_public[None, :])
    public = (w / w.sum(axis=1, keepdims=True)) @ X
    alpha, beta = coding_points("bacc", K, N)
    ours = berrut_operator(alpha, beta) @ X[::-1]  # reversed rows: row j at alpha_public[j]
    np.testing.assert_allclose(ours[::-1], public, atol=1e-13)  # coded rows reversed too
    # without the reversal the rows sit at the mirrored points: a different code
    assert np.abs(berrut_operator(alpha, beta) @ X - ours).max() > 0.1


@pytest.mark.parametrize("K, N", [(4, 9), (16, 65), (16, 17), (7, 50)])
def test_interior_layout_keeps_data_points_strictly_inside(K, N):
    alpha, beta = coding_points("interior", K, N)
    np.testing.assert_allclose(alpha, 0.95 * np.linspace(-1, 1, K), atol=1e-15)
    np.testing.assert_allclose(beta, np.linspace(-1, 1, N), atol=1e-15)
    assert alpha[0] > beta[0] and alpha[-1] < beta[-1]


def test_systematic_layout_contains_every_data_point():
    for K in range(2, 40, 3):
        for N in range(K, 5 * K + 2, 2):
            alpha, beta = coding_points("systematic", K, N)
            assert beta.size == N and np.all(np.diff(beta) > 0)
            assert np.isin(alpha, beta).all()
            np.testing.assert_array_equal(alpha, coding_points("interior", K, N)[0])


def test_systematic_layout_errors_are_clear():
    with pytest.raises(ValueError, match="needs n_coded >= batch size; got N=3, K=4"):
        coding_points("systematic", 4, 3)
    with pytest.raises(ValueError, match="use coding_points"):
        make_points("systematic", 4, role="coded")
