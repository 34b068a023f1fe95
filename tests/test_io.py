"""save / load: exact round trips, atomic writes, and a clear refusal of every bad file."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_lite as al
from autograd_lite.io import load, save


def assert_identical(a, b, path="obj"):
    """Same types all the way down (int keys stay int, tuples stay tuples), same bits."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            assert type(k) is type(next(x for x in b if x == k)), f"{path}: key type of {k!r}"
            assert_identical(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{path}[{i}]")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{path}: {a.dtype}{a.shape}"
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), path
    elif isinstance(a, float):
        assert a.hex() == b.hex(), f"{path}: {a!r} != {b!r}"  # keeps -0.0 and nan apart
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def round_trip(obj, tmp_path):
    target = tmp_path / "obj.npz"
    save(obj, target)
    back = load(target)
    assert_identical(obj, back)
    assert os.listdir(tmp_path) == ["obj.npz"]  # no temporary file left behind
    return back


# ---------------------------------------------------------------------------- round trips


def test_module_state_dict_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    state = {
        "layers.0.weight": rng.normal(size=(2, 16)),
        "layers.0.bias": rng.normal(size=16),
        "layers.2.weight": rng.normal(size=(16, 2)).astype(np.float32),
        "layers.2.bias": np.zeros(2, dtype=np.float32),
    }
    back = round_trip(state, tmp_path)
    assert all(v.flags.writeable for v in back.values())


def test_optimizer_shaped_state_round_trip(tmp_path):
    state = {
        "state": {0: {"step": 3, "exp_avg": np.ones((2, 3)), "exp_avg_sq": np.full(3, 0.5)}},
        "param_groups": [
            {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "nesterov": False, "params": [0, 1]}
        ],
    }
    back = round_trip(state, tmp_path)
    assert list(back["state"]) == [0] and isinstance(back["param_groups"][0]["betas"], tuple)


def test_every_dtype_shape_and_scalar(tmp_path):
    structured = np.zeros(2, dtype=[("a", "<f4"), ("b", "<i2", (2,))])
    obj = {
        "dtypes": [
            np.arange(6).astype(t).reshape(2, 3)
            for t in "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]
        ],
        "big_endian": np.arange(3, dtype=">f8"),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "strided": np.arange(20.0)[::3],
        "zero_d": np.array(1.5),
        "empty": np.zeros((0, 3)),
        "special": np.array([np.nan, -np.inf, np.inf, -0.0, 5e-324]),
        "strings": np.array(["ünï", "code"]),
        "bytes": np.array([b"\x00\xff", b"ab"]),
        "dates": np.array(["2024-01-02", "NaT"], dtype="datetime64[D]"),
        "structured": structured,
        "np_scalars": (np.float32(0.1), np.int8(-3), np.bool_(True), np.complex128(1 - 2j)),
        "python": [None, True, False, 0, -(2**80), 0.1, -0.0, float("nan"), float("inf"), "", "é"],
        "containers": ([], (), {}, [[()]], {"x": {}}),
        7: "int key",
        -1: {0: {1: "nested int keys"}},
    }
    round_trip(obj, tmp_path)
    round_trip(np.arange(3), tmp_path)  # the top level need not be a container
    round_trip(0.5, tmp_path)


def test_same_array_twice_and_key_order(tmp_path):
    a = np.arange(3.0)
    back = round_trip({"z": a, "a": a, 3: [a, a], "m": a}, tmp_path)
    assert list(back) == ["z", "a", 3, "m"]


def test_file_is_a_plain_npz_readable_without_pickle(tmp_path):
    save({"w": np.eye(2), "nested": [np.ones(3)]}, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["__autograd_lite__", "a0", "a1"]
        meta = json.loads(npz["__autograd_lite__"].tobytes().decode())
        np.testing.assert_array_equal(npz["a0"], np.eye(2))
    assert meta["format"] == "autograd_lite" and meta["version"] == 1


def test_path_is_used_exactly_and_pathlike_or_str(tmp_path):
    save([1], str(tmp_path / "model.bin"))  # no ".npz" appended
    assert os.listdir(tmp_path) == ["model.bin"]
    assert load(str(tmp_path / "model.bin")) == [1]


def test_overwrite_replaces_and_keeps_permissions(tmp_path):
    target = tmp_path / "m.npz"
    save({"a": np.zeros(2)}, target)
    os.chmod(target, 0o640)
    save({"b": np.ones(2)}, target)
    assert list(load(target)) == ["b"]
    assert os.stat(target).st_mode & 0o777 == 0o640


def test_new_file_gets_umask_permissions_not_mkstemp_ones(tmp_path):
    old = os.umask(0o022)
    try:
        save([], tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "m.npz").st_mode & 0o777 == 0o644


def test_saves_through_a_symlink(tmp_path):
    real = tmp_path / "real.npz"
    save([1], real)
    (tmp_path / "link.npz").symlink_to(real)
    save([2], tmp_path / "link.npz")
    assert (tmp_path / "link.npz").is_symlink()
    assert load(real) == [2]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
)
arrays = hnp.arrays(
    dtype=st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes()),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
)
trees = st.recursive(
    scalars | arrays,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4) | st.integers(-5, 5), children, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(obj=trees)
def test_any_supported_structure_round_trips(tmp_path_factory, obj):
    round_trip(obj, tmp_path_factory.mktemp("rt"))


# ------------------------------------------------------------------------- bad objects


class _Thing:
    pass


@pytest.mark.parametrize(
    ("obj", "where"),
    [
        ({"a": {"b": [1, np.array([None], dtype=object)]}}, r"obj\['a'\]\['b'\]\[1\]"),
        ({"s": {1, 2}}, r"obj\['s'\] is a builtins.set"),
        ({"f": lambda x: x}, r"obj\['f'\] is a builtins.function"),
        ([_Thing()], r"obj\[0\] is a .*_Thing"),
        ({"c": 1j}, r"obj\['c'\] is a builtins.complex"),
        ({"m": np.ma.masked_array([1.0])}, r"obj\['m'\] is a numpy.ma.*MaskedArray"),
        ({"state": {(0, 1): 1.0}}, r"obj\['state'\] has a key \(0, 1\) of type tuple"),
        ({"state": {True: 1.0}}, r"obj\['state'\] has a key True of type bool"),
        ({"k": {np.int64(0): 1.0}}, r"obj\['k'\] has a key np.int64\(0\) of type int64"),
    ],
)
def test_unsupported_objects_raise_before_writing(tmp_path, obj, where):
    target = tmp_path / "m.npz"
    with pytest.raises(TypeError, match=where):
        save(obj, target)
    assert os.listdir(tmp_path) == []
    save({"old": np.ones(2)}, target)
    with pytest.raises(TypeError):
        save(obj, target)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert list(load(target)) == ["old"]


def test_circular_reference_is_refused(tmp_path):
    loop: list = [1]
    loop.append({"back": loop})
    with pytest.raises(TypeError, match=r"obj\[1\]\['back'\] contains itself"):
        save(loop, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- failed saves


@pytest.fixture
def existing(tmp_path):
    target = tmp_path / "m.npz"
    save({"old": np.arange(4.0)}, target)
    return target, target.read_bytes()


def _assert_untouched(existing):
    target, raw = existing
    assert target.read_bytes() == raw
    assert os.listdir(target.parent) == [target.name]  # the temporary file is gone
    assert list(load(target)) == ["old"]


def test_failed_rename_keeps_old_file(monkeypatch, existing):
    def fail(src, dst):
        raise OSError("simulated rename failure")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="simulated rename"):
        save({"new": np.zeros(4)}, existing[0])
    _assert_untouched(existing)


def test_disk_full_midway_keeps_old_file(monkeypatch, existing):
    def half_written(file, *args, **kwargs):
        file.write(b"PK\x03\x04 only part of the archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(OSError, match="No space left"):
        save({"new": np.zeros(4)}, existing[0])
    _assert_untouched(existing)


def test_interrupt_during_fsync_keeps_old_file(monkeypatch, existing):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save({"new": np.zeros(4)}, existing[0])
    _assert_untouched(existing)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        save([1], tmp_path / "no" / "such" / "m.npz")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")


def _write_zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _meta(meta) -> bytes:
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return _npy(np.frombuffer(text.encode(), dtype=np.uint8))


def _file(meta, **arrays) -> dict[str, bytes]:
    members = {"__autograd_lite__.npy": _meta(meta)}
    members.update({f"{k}.npy": _npy(v) for k, v in arrays.items()})
    return members


GOOD = {"format": "autograd_lite", "version": 1}

FOREIGN = [
    ("text file", lambda p: p.write_text("lr = 0.1\nweights: [1, 2]\n"), "not an .npz file"),
    ("empty file", lambda p: p.write_bytes(b""), "not an .npz file"),
    ("npy file", lambda p: p.write_bytes(_npy(np.ones(3))), "not an .npz file"),
    ("plain np.savez", lambda p: np.savez(str(p), w=np.ones(3)), "not written by"),
    ("zip of text", lambda p: _write_zip(p, {"hello.txt": b"hi"}), "unexpected zip entry"),
    (
        "garbage marker",
        lambda p: _write_zip(p, {"__autograd_lite__.npy": b"\x93NUMPY garbage"}),
        "truncated or corrupted",
    ),
    ("marker not json", lambda p: _write_zip(p, _file("{oops")), "truncated or corrupted"),
    (
        "marker of other format",
        lambda p: _write_zip(p, _file({"format": "other", "version": 1, "tree": 1})),
        "does not describe an autograd_lite file",
    ),
    (
        "newer version",
        lambda p: _write_zip(p, _file({**GOOD, "version": 2, "tree": 1})),
        "version 2 is newer",
    ),
    (
        "marker of wrong dtype",
        lambda p: _write_zip(p, {"__autograd_lite__.npy": _npy(np.array("{}"))}),
        "has dtype <U2",
    ),
    (
        "missing array",
        lambda p: _write_zip(p, _file({**GOOD, "tree": {"array": "a0"}})),
        "missing or reused array entry 'a0'",
    ),
    (
        "reused array",
        lambda p: _write_zip(
            p, _file({**GOOD, "tree": {"list": [{"array": "a0"}, {"array": "a0"}]}}, a0=np.ones(1))
        ),
        r"obj\[1\] refers to a missing or reused",
    ),
    (
        "extra array",
        lambda p: _write_zip(p, _file({**GOOD, "tree": None}, a0=np.ones(1))),
        r"\['a0'\] are not part",
    ),
    (
        "bad node",
        lambda p: _write_zip(p, _file({**GOOD, "tree": {"dict": [["k", {"set": []}]]}})),
        r"obj\['k'\] is not a valid node",
    ),
    (
        "bad dict key",
        lambda p: _write_zip(p, _file({**GOOD, "tree": {"dict": [[1.5, None]]}})),
        "invalid dict item",
    ),
    (
        "duplicate key",
        lambda p: _write_zip(p, _file({**GOOD, "tree": {"dict": [[1, None], [1, 2]]}})),
        "duplicate key 1",
    ),
    (
        "scalar entry not 0-d",
        lambda p: _write_zip(p, _file({**GOOD, "tree": {"scalar": "a0"}}, a0=np.ones(2))),
        r"scalar entry 'a0' has shape \(2,\)",
    ),
]


@pytest.mark.parametrize(
    ("write", "message"), [f[1:] for f in FOREIGN], ids=[f[0] for f in FOREIGN]
)
def test_foreign_files_are_refused(tmp_path, write, message):
    target = tmp_path / "model.npz"
    write(target)
    with pytest.raises(ValueError, match=message) as info:
        load(target)
    assert str(target) in str(info.value)


class _RunsCode:
    """Unpickling this would create a folder: proof that code ran."""

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (os.mkdir, (self.flag,))


def test_pickled_payload_is_never_executed(tmp_path):
    flag = str(tmp_path / "code_ran")
    payload = np.array([_RunsCode(flag)], dtype=object)
    members = _file({**GOOD, "tree": {"array": "a0"}})
    members["a0.npy"] = _npy(payload, allow_pickle=True)
    _write_zip(tmp_path / "evil.npz", members)
    with pytest.raises(ValueError, match="evil.npz.*object array.*could run code"):
        load(tmp_path / "evil.npz")
    assert not os.path.exists(flag)


@pytest.fixture
def good_file(tmp_path):
    obj = {"w": np.arange(12.0).reshape(3, 4), "b": np.ones(4, np.float32), 0: {"step": 3}}
    save(obj, tmp_path / "good.npz")
    return obj, (tmp_path / "good.npz").read_bytes(), tmp_path / "bad.npz"


def test_every_truncation_is_refused(good_file):
    _, raw, bad = good_file
    for n in range(len(raw)):
        bad.write_bytes(raw[:n])
        with pytest.raises(ValueError, match="bad.npz"):
            load(bad)


def test_corrupted_bytes_are_refused_or_harmless(good_file):
    """Flip every byte: either a ValueError or exactly the saved object (e.g. a timestamp)."""
    obj, raw, bad = good_file
    refused = 0
    for i in range(len(raw)):
        damaged = bytearray(raw)
        damaged[i] ^= 0xFF
        bad.write_bytes(bytes(damaged))
        try:
            back = load(bad)
        except ValueError as exc:
            assert "bad.npz" in str(exc)
            refused += 1
        else:
            assert_identical(obj, back)
    assert refused > len(raw) // 2  # the data and the structure are CRC-protected


def test_refusal_chains_the_cause(good_file):
    _, raw, bad = good_file
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError) as info:
        load(bad)
    assert isinstance(info.value.__cause__, zipfile.BadZipFile)


# ------------------------------------------------------------------------- issue 7 follow-ups
def test_save_never_touches_the_process_umask(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda *_: pytest.fail("save changed the umask"))
        save([1], tmp_path / "m.npz")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert os.stat(tmp_path / "m.npz").st_mode & 0o777 == 0o640


def test_object_arrays_are_refused_as_such_not_as_corruption(tmp_path):
    members = _file({**GOOD, "tree": {"array": "a0"}})
    members["a0.npy"] = _npy(np.array([1, "x"], dtype=object), allow_pickle=True)
    _write_zip(tmp_path / "obj.npz", members)
    with pytest.raises(ValueError, match="object array") as info:
        load(tmp_path / "obj.npz")
    assert "corrupted" not in str(info.value)


def test_a_header_claiming_more_than_the_file_holds_is_corruption_without_allocating(tmp_path):
    members = _file({**GOOD, "tree": {"array": "a0"}})
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (10**12,)  # 8 TB claimed
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    members["a0.npy"] = buf.getvalue() + np.zeros(1).tobytes()
    _write_zip(tmp_path / "huge.npz", members)
    with pytest.raises(ValueError, match="claims shape.*truncated or corrupted"):
        load(tmp_path / "huge.npz")


def test_a_genuine_memory_error_is_not_called_corruption(tmp_path, monkeypatch):
    save({"w": np.ones(3)}, tmp_path / "m.npz")

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(np.lib.format, "read_array", no_memory)
    with pytest.raises(MemoryError, match="not enough memory"):
        load(tmp_path / "m.npz")


def test_errors_name_the_path_the_user_gave(tmp_path):
    with pytest.raises(IsADirectoryError, match=re.escape(repr(str(tmp_path)))):
        save([1], tmp_path)
    missing = tmp_path / "missing" / "x.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(repr(str(missing)))):
        save([1], missing)
    assert os.listdir(tmp_path) == []


def test_tensors_and_parameters_are_saved_as_their_arrays(tmp_path):
    from autograd_lite import nn

    w = nn.Parameter(np.arange(3.0))
    t = al.Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    save({"w": w, "t": t}, tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back["w"], w.data)
    assert back["t"].dtype == np.float32 and isinstance(back["t"], np.ndarray)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_saving_over_a_pipe_raises_and_leaves_it_a_pipe(tmp_path):
    import stat

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(ValueError, match="not a regular file"):
        save([1], pipe)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]  # no temporary file left
