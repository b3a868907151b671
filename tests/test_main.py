import pytest

from sklearn_coded.__main__ import main


def test_main_job_prints_spline_ahead_of_berrut(capsys):
    assert main(["-K", "8", "-N", "32", "-S", "0", "3", "--n-batches", "5"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    table = {
        (r[0], r[1]): [float(v) for v in r[2:]] for r in rows if len(r) == 5 and r[0].isdigit()
    }
    assert set(table) == {(s, c) for s in ("0", "3") for c in ("spline", "berrut")}
    for S in ("0", "3"):
        spline, berrut = table[S, "spline"], table[S, "berrut"]
        assert spline[0] < berrut[0] and spline[1] < berrut[1]  # pixel and logit RMSE
        assert 0.9 <= spline[2] <= 1.0


def test_main_job_rejects_impossible_stragglers(capsys):
    with pytest.raises(SystemExit):
        main(["-N", "10", "-S", "9"])
    assert "each S must be in [0, N - 2]" in capsys.readouterr().err
