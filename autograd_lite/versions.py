"""The version counter: which memory was changed in place, and when.

A backward rule needs the values its op saw: `Mul` saved `a` and `b` to compute `grad * b`.
If one of those arrays is changed in place between the forward pass and `backward()` (by
`t += 1`, `t[i] = v`, `t.zero_()`, an optimizer's step or `load_state_dict`), the rule would
silently compute a wrong gradient. PyTorch guards against this with a version counter, and
so does autograd_lite:

- every in-place change made through the library calls `mark_changed(array)`, which counts
  it (`count`) and notes the count against the memory it wrote (the array that owns the
  data, so that views, `detach()` and the tensor itself share one counter, as in PyTorch);
- a node that saved values notes `count` when it is recorded (one attribute read);
- when a rule reads `ctx.saved_tensors`, nothing can have changed if `count` has not moved
  (one comparison); otherwise `changed_since` looks up the memory of each saved array.

What it cannot see: writes straight into an ndarray (`t.data[0] = 1`, `t.data -= ...`, or
into an array you passed to an op), since numpy does not tell anyone. Rebinding `t.data = new`
is safe: the saved array is still the old one.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

count = 0  # in-place changes so far (all threads); nodes that save values record it

# id(memory owner) -> [count at its last change, number of changes, weak reference to it].
# An entry leaves the table when its owner dies (a weakref callback, which runs before the id
# can be reused), so the entry under a live array's id is always that array's.
_changes: dict[int, list] = {}


def owner(array: Any) -> Any:
    """The object that owns `array`'s memory (the end of its chain of `.base`s)."""
    base = array.base
    while base is not None:
        array = base
        base = getattr(array, "base", None)
    return array


def mark_changed(*arrays: Any) -> None:
    """Record that each array's memory was written in place (call it after every such write)."""
    global count
    count += 1
    for array in arrays:
        mem = array if array.base is None else owner(array)  # an optimizer's params own theirs
        entry = _changes.get(id(mem))
        if entry is not None:
            entry[0] = count
            entry[1] += 1
        else:
            _changes[id(mem)] = [count, 1, _watch(mem)]


def version(array: Any) -> int:
    """How many in-place changes the library made to `array`'s memory (`Tensor._version`)."""
    entry = _changes.get(id(owner(array)))
    return 0 if entry is None else entry[1]


def changed_since(arrays: Iterable[Any], stamp: int) -> int | None:
    """The position of the first array whose memory was changed after `count` was `stamp`."""
    for i, a in enumerate(arrays):
        if hasattr(a, "base"):  # an ndarray (scalars and None are never changed in place)
            entry = _changes.get(id(owner(a)))
            if entry is not None and entry[0] > stamp:
                return i
    return None


def _watch(mem: Any) -> Any:
    """A weak reference to `mem` that removes its entry from the table when `mem` dies."""
    key = id(mem)

    def forget(ref: weakref.ref) -> None:
        entry = _changes.get(key)
        if entry is not None and entry[2] is ref:
            del _changes[key]

    try:
        return weakref.ref(mem, forget)
    except TypeError:  # a buffer that takes no weak reference (bytearray): it never leaves
        return mem
