"""Tests of models/data.py: the tutorial's split, and points read from CSV."""

import io

import numpy as np
import pytest

from models import tutorial
from models.data import load_moons, read_points


def test_load_moons_gives_the_tutorials_split():
    X_train, X_test, y_train, y_test = load_moons()
    assert X_train.shape == (3750, 2) and X_test.shape == (1250, 2)
    assert (tutorial.N_TRAIN, tutorial.N_TEST) == (3750, 1250)
    assert y_train.shape == (3750,) and y_test.shape == (1250,)
    assert set(np.unique(y_train)) == set(np.unique(y_test)) == {0, 1}
    again = load_moons()
    for a, b in zip((X_train, X_test, y_train, y_test), again, strict=True):
        np.testing.assert_array_equal(a, b)
    small = load_moons(n_samples=100, seed=0)
    assert [len(part) for part in small] == [75, 25, 75, 25]


def test_read_points_skips_a_header_comments_and_blank_lines(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("x1,x2\n# a comment\n0.5, -1\n\n  2e-3,4 \n")
    np.testing.assert_array_equal(read_points(path), [[0.5, -1.0], [0.002, 4.0]])
    np.testing.assert_array_equal(read_points(io.StringIO("1,2,3\n"), n_features=3), [[1, 2, 3]])
    np.testing.assert_array_equal(read_points(io.StringIO("1,2\n")), [[1.0, 2.0]])  # no header


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "no points"),
        ("x1,x2\n", "no points"),
        ("1,2\n3\n", "line 2: expected 2 finite numbers"),
        ("1,2,3\n", "line 1: expected 2"),
        ("x1,x2\ny1,y2\n", "line 2"),  # only the first line may be a header
        ("1,nan\n", "line 1"),
        ("1,inf\n", "line 1"),
        ("x1;x2\n", "first line, 'x1;x2', was taken for a header"),
        ("1;2\n3,4\n", "line 1"),  # a typo, not a header: a header has letters
    ],
)
def test_read_points_names_the_bad_line(text, match):
    with pytest.raises(ValueError, match=match):
        read_points(io.StringIO(text))


def test_read_points_drops_a_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"  # "CSV UTF-8" as spreadsheets write it: a BOM first
    path.write_bytes("\ufeff0.5,-1.0\n2,3\n".encode())
    np.testing.assert_array_equal(read_points(path), [[0.5, -1.0], [2.0, 3.0]])
    text = io.StringIO("\ufeffx1,x2\n1,2\n")  # (standard input keeps it)
    np.testing.assert_array_equal(read_points(text), [[1.0, 2.0]])


def test_read_points_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_points(tmp_path / "missing.csv")
