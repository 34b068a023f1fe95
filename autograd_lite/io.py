"""Save and load nested structures of numpy arrays (state dicts) as ``.npz`` files, never pickle.

A file is an ordinary uncompressed ``.npz`` (a zip of ``.npy`` entries):

- ``__autograd_lite__``: a uint8 array holding UTF-8 JSON
  ``{"format": "autograd_lite", "version": 1, "tree": <node>}``;
- ``a0``, ``a1``, ...: the arrays, in the order they appear in the structure.

A ``<node>`` is one of

- ``null``, ``true``/``false``, an int, a float (incl. ``NaN``/``Infinity``) or a string:
  the Python scalar itself;
- ``{"list": [node, ...]}`` or ``{"tuple": [node, ...]}``;
- ``{"dict": [[key, node], ...]}`` (pairs keep int keys int, and the key order);
- ``{"array": "a0"}`` (a numpy array) or ``{"scalar": "a0"}`` (a numpy scalar, stored 0-d).

Loading reads every entry with ``allow_pickle=False``, so opening a file never runs code.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

from autograd_lite.tensor import Tensor

__all__ = ["save", "load", "write_atomically"]

FORMAT_NAME = "autograd_lite"
FORMAT_VERSION = 1
_META = "__autograd_lite__"
_CONTAINER_TAGS = ("list", "tuple", "dict", "array", "scalar")
_SCALAR_TYPES = (type(None), bool, int, float, str)

# What a damaged or foreign file can make zipfile / numpy / json raise while we parse it
# (the file itself was already opened, so an OSError here is a bad offset, not a missing file).
_PARSE_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    ValueError,  # includes json.JSONDecodeError and UnicodeDecodeError
    OSError,
    EOFError,
    KeyError,
    NotImplementedError,  # unsupported zip compression method
    RuntimeError,  # encrypted zip entry; RecursionError from absurdly nested JSON
    struct.error,
    OverflowError,
)


class _Malformed(Exception):
    """Internal: the file parsed but its content is not a valid autograd_lite structure."""


# ----------------------------------------------------------------------------------- save


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` to ``path`` (exactly that name) atomically as an ``.npz`` file.

    ``obj`` may nest dicts (str or int keys), lists and tuples of numpy arrays, numpy scalars,
    Tensors and Parameters (their arrays are saved) and Python ``int``/``float``/``bool``/
    ``str``/``None``. Unsupported content raises ``TypeError`` naming its key path before
    anything is written. The file is written atomically (`write_atomically`): a failed save
    leaves any existing file intact; a new file gets the usual permissions (0o666 less the
    umask), an existing one keeps its own, and a symlink is written through.
    """
    tree, arrays = _encode(obj)
    meta = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "tree": tree})
    entries = {_META: np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)}
    entries.update(arrays)

    write_atomically(path, lambda f: np.savez(f, allow_pickle=False, **entries), "save")


def write_atomically(path: str | os.PathLike[str], write: Any, what: str) -> None:
    """Call ``write(binary file)`` to make ``path``'s new content, and put it in place whole.

    The data goes to a temporary file in the same folder, is fsynced, then renamed over the
    path (through a symlink, not over it), so a failed write leaves any existing file intact.
    A new file gets the usual permissions (0o666 less the umask); an existing one keeps its
    own. ``what`` names the caller in errors (which name the path as the user gave it).
    """
    given = os.fspath(path)
    target = os.path.realpath(given)  # write through a symlink, not over it
    folder, name = os.path.split(target)
    if os.path.isdir(target):
        raise IsADirectoryError(f"{what}: {given!r} is a folder; give a file name")
    if os.path.exists(target) and not os.path.isfile(target):  # (the rename would replace it)
        raise ValueError(
            f"{what}: {given!r} is not a regular file (a pipe, a device or a socket); the "
            "file is written anew and renamed into place, so give the path of a regular file"
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{what}: the folder of {given!r} does not exist")
    fd, tmp = _create_temporary(folder, name, given, what)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):  # an existing file keeps its mode
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _create_temporary(folder: str, name: str, given: str, what: str) -> tuple[int, str]:
    """A new, private-named file beside the target, created with mode 0o666 (the kernel
    applies the umask, which is how a new file normally gets its permissions)."""
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
        except OSError as e:
            raise type(e)(e.errno, f"{what}: cannot write {given!r} ({e.strerror})") from None
    raise FileExistsError(f"{what}: cannot create a temporary file beside {given!r}")


def _encode(obj: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Turn ``obj`` into a JSON-able tree plus the arrays it refers to (``TypeError`` if not)."""
    arrays: dict[str, np.ndarray] = {}
    open_containers: set[int] = set()

    def add_array(value: np.ndarray, path: str) -> str:
        if value.dtype.hasobject:
            raise TypeError(
                f"save: {path} has dtype {value.dtype}, which holds Python objects and "
                f"cannot be stored without pickle"
            )
        key = f"a{len(arrays)}"
        arrays[key] = value
        return key

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, Tensor):  # a Tensor or Parameter: its array
            value = value.data
        kind = type(value)
        if kind in _SCALAR_TYPES:
            return value
        if kind is np.ndarray:
            return {"array": add_array(value, path)}
        if isinstance(value, np.generic):
            return {"scalar": add_array(np.asarray(value), path)}
        if kind not in (dict, list, tuple):
            raise TypeError(
                f"save: {path} is a {kind.__module__}.{kind.__qualname__}; only dict, list, "
                f"tuple, Tensors, numpy arrays and scalars, int, float, bool, str and None "
                f"can be saved"
            )
        if id(value) in open_containers:
            raise TypeError(f"save: {path} contains itself (a circular reference)")
        open_containers.add(id(value))
        if kind is dict:
            node: Any = {
                "dict": [[_check_key(k, path), walk(v, f"{path}[{k!r}]")] for k, v in value.items()]
            }
        else:
            node = {kind.__name__: [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        open_containers.discard(id(value))
        return node

    return walk(obj, "obj"), arrays


def _check_key(key: Any, path: str) -> str | int:
    if type(key) not in (str, int):
        raise TypeError(
            f"save: {path} has a key {key!r} of type {type(key).__name__}; "
            f"dict keys must be str or int"
        )
    return key


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable where the platform allows it (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------- load


def load(path: str | os.PathLike[str]) -> Any:
    """Read a structure written by :func:`save`; nothing in the file is ever executed.

    Raises ``FileNotFoundError`` if ``path`` does not exist and ``ValueError`` naming the file
    if it is truncated, corrupted or not an autograd_lite file.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:  # FileNotFoundError / PermissionError propagate unchanged
        try:
            if f.read(4) != b"PK\x03\x04":
                raise _Malformed("not an .npz file (it does not start with a zip header)")
            f.seek(0)
            entries = _read_entries(f)
            meta = _read_meta(entries.pop(_META, None))
            obj = _decode(meta["tree"], entries)
        except _Malformed as exc:
            raise ValueError(f"load: {path!r}: {exc}") from None
        except _PARSE_ERRORS as exc:
            raise ValueError(
                f"load: {path!r} is truncated or corrupted ({type(exc).__name__}: {exc})"
            ) from exc
    return obj


def _read_entries(f: Any) -> dict[str, np.ndarray]:
    """Every ``.npy`` entry of the zip, read in full (and CRC-checked) with pickle disabled."""
    entries: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(f) as zf:
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if name == info.filename or name in entries:
                raise _Malformed(f"unexpected zip entry {info.filename!r}")
            with zf.open(info) as member:
                _check_header(member, info)
                member.seek(0)
                try:
                    entries[name] = np.lib.format.read_array(member, allow_pickle=False)
                except MemoryError:
                    raise MemoryError(
                        f"load: not enough memory for entry {info.filename!r} "
                        f"({info.file_size} bytes)"
                    ) from None
                if member.read(1):  # reading to the end is also what triggers the CRC check
                    raise _Malformed(f"entry {info.filename!r} has bytes after its array")
    return entries


def _check_header(member: Any, info: zipfile.ZipInfo) -> None:
    """Refuse object arrays, and a header claiming more bytes than the entry holds."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    if dtype.hasobject:
        raise _Malformed(
            f"entry {info.filename!r} holds an object array (dtype {dtype}); object arrays are "
            "refused because loading them could run code"
        )
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if claimed > info.file_size:
        raise _Malformed(
            f"entry {info.filename!r} claims shape {shape} ({claimed} bytes) but holds "
            f"{info.file_size} bytes: the file is truncated or corrupted"
        )


def _read_meta(raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None:
        raise _Malformed(
            f"no {_META!r} entry: not written by autograd_lite.save (a plain np.savez file?)"
        )
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Malformed(f"entry {_META!r} has dtype {raw.dtype} and shape {raw.shape}")
    meta = json.loads(raw.tobytes().decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME or "tree" not in meta:
        raise _Malformed(f"entry {_META!r} does not describe an autograd_lite file")
    version = meta.get("version")
    if type(version) is not int or version < 1:
        raise _Malformed(f"invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise _Malformed(
            f"format version {version} is newer than this autograd_lite reads "
            f"({FORMAT_VERSION}); upgrade autograd_lite"
        )
    return meta


def _decode(tree: Any, entries: dict[str, np.ndarray]) -> Any:
    """Rebuild the saved object; every entry must be used exactly once."""
    unused = set(entries)

    def take(name: Any, path: str) -> np.ndarray:
        if not isinstance(name, str) or name not in unused:
            raise _Malformed(f"{path} refers to a missing or reused array entry {name!r}")
        unused.discard(name)
        return entries[name]

    def walk(node: Any, path: str) -> Any:
        if type(node) in _SCALAR_TYPES:
            return node
        if not (isinstance(node, dict) and len(node) == 1 and next(iter(node)) in _CONTAINER_TAGS):
            raise _Malformed(f"{path} is not a valid node: {_short(node)}")
        ((tag, body),) = node.items()
        if tag in ("array", "scalar"):
            array = take(body, path)
            if tag == "array":
                return array
            if array.ndim != 0:
                raise _Malformed(f"{path}: scalar entry {body!r} has shape {array.shape}")
            return array[()]
        if not isinstance(body, list):
            raise _Malformed(f"{path}: {tag} node must hold a list, got {_short(body)}")
        if tag == "list":
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(body)]
        if tag == "tuple":
            return tuple(walk(v, f"{path}[{i}]") for i, v in enumerate(body))
        out: dict[str | int, Any] = {}
        for pair in body:
            if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) in (str, int)):
                raise _Malformed(f"{path}: invalid dict item {_short(pair)}")
            key, value = pair
            if key in out:
                raise _Malformed(f"{path}: duplicate key {key!r}")
            out[key] = walk(value, f"{path}[{key!r}]")
        return out

    obj = walk(tree, "obj")
    if unused:
        raise _Malformed(f"array entries {sorted(unused)} are not part of the saved structure")
    return obj


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
