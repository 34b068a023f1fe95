"""The machinery of ``python -m models``: options, argument types, commands, and main.

A command is a function ``run(args) -> (result dict, text)`` registered by the `command`
decorator with its options (each an `Option`, defined once and shared between commands) and
an optional ``check(args) -> problem or None`` for what one option cannot check alone. Its
name is the function's (``check_grads`` -> ``check-grads``), its help the docstring (the
first paragraph is its line in the list of commands).
`main` parses, checks, runs and prints: the text, or ``--json`` as strict JSON. Every
command also takes ``--json`` and ``--quiet``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from autograd_lite import validate

Result = tuple[dict[str, Any], str]


class UsageError(Exception):
    """A bad argument that a command finds before it starts work: exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line naming the command, not a usage block
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    kwargs: dict[str, Any]

    def but(self, default: Any) -> Option:
        """The same option with a command's own default."""
        return replace(self, kwargs={**self.kwargs, "default": default})


def option(*flags: str, **kwargs: Any) -> Option:
    """``parser.add_argument(*flags, **kwargs)``, its default shown in its help."""
    if kwargs.get("default") is not None and kwargs.get("default") is not False:
        kwargs["help"] += " (default: %(default)s)"
    return Option(flags, kwargs)


def integer(upper: int) -> Callable[[str], int]:
    """An argparse type: an int from 1 to ``upper``."""
    return validate.argtype(validate.positive_int, upper=upper)


def number(check: Callable[..., float] = validate.positive_float, **bounds: Any) -> Callable:
    """An argparse type: a finite float > 0 (within ``bounds``)."""
    return validate.argtype(check, float, **bounds)


def path_problem(path: str, folder: bool = False, suffixes: Sequence[str] = ()) -> str | None:
    """Why ``path`` cannot be written (a file, or a folder to create), or None if it can."""
    if not path.strip():
        return "the path is empty"
    if suffixes and os.path.splitext(path)[1].lower() not in suffixes:
        return f"{path!r} must end with one of {', '.join(suffixes)}"
    if os.path.exists(path) and os.path.isdir(path) != folder:
        return f"{path!r} is {'a file' if folder else 'a folder'}"
    if not folder and os.path.exists(path) and not os.path.isfile(path):
        return f"{path!r} is not a regular file (a pipe, a device or a socket)"
    where = path if folder and os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(where):
        return f"the folder {where!r} does not exist"
    if os.path.isfile(path) and not os.access(path, os.W_OK):
        return f"cannot write {path!r} (permission denied)"
    try:  # the only sure test (root may write anywhere but /proc, say): make a file there
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as e:
        return f"cannot write in the folder {where!r} ({e.strerror or e})"
    return None


def writable(folder: bool = False, suffixes: Sequence[str] = ()) -> Callable[[str], str]:
    """An argparse type: a path where a file (or a folder) can be written."""

    def check(path: str) -> str:
        problem = path_problem(path, folder, suffixes)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return path

    return check


@dataclass(frozen=True)
class Command:
    name: str
    run: Callable[[argparse.Namespace], Result]
    options: tuple[Option, ...]
    check: Callable[[argparse.Namespace], str | None] | None = None

    @property
    def summary(self) -> str:
        """The first paragraph of the docstring (the line in the list of commands)."""
        return " ".join((self.run.__doc__ or "").split("\n\n")[0].split())

    @property
    def description(self) -> str:
        """The whole docstring, its paragraphs wrapped anew (and kept apart)."""
        paragraphs = (self.run.__doc__ or "").split("\n\n")
        return "\n\n".join(textwrap.fill(" ".join(p.split()), 79) for p in paragraphs)


COMMANDS: dict[str, Command] = {}

COMMON = (
    option("--json", action="store_true",
           help="print the result as JSON on stdout (strict: no NaN), and nothing else there"),
    option("--quiet", "-q", action="store_true",
           help="no progress bars or timing on stderr (bars are off anyway when stderr is "
           "not a terminal)"),
)  # fmt: skip


def command(*options: Option, check: Callable | None = None) -> Callable:
    """Register the decorated function as a command with these options."""

    def register(run: Callable[[argparse.Namespace], Result]) -> Callable:
        name = run.__name__.replace("_", "-")
        COMMANDS[name] = Command(name, run, (*options, *COMMON), check)
        return run

    return register


def build_parser(prog: str, description: str) -> tuple[Parser, dict[str, Parser]]:
    """The parser of every registered command, and each command's own parser."""
    epilog = f"'{prog} COMMAND --help' lists the options of a command."
    parser = Parser(prog=prog, description=description, epilog=epilog)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers = {}
    for cmd in COMMANDS.values():
        sub = commands.add_parser(
            cmd.name,
            help=cmd.summary,
            description=cmd.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for opt in cmd.options:
            sub.add_argument(*opt.flags, **opt.kwargs)
        subparsers[cmd.name] = sub
    return parser, subparsers


def progress(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: on a terminal, unless --quiet."""
    return not args.quiet and sys.stderr.isatty()


def progress_bar(args: argparse.Namespace, total: int, desc: str, unit: str) -> Any:
    """A tqdm bar on stderr, drawn if `progress` says so."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not progress(args), file=sys.stderr)


def settings(args: argparse.Namespace, *keys: str) -> dict[str, Any]:
    """The values of these options, by name."""
    return {key: getattr(args, key) for key in keys}


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _show_warning(message: Any, *args: Any, **kwargs: Any) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None, prog: str, description: str) -> int:
    """Run one command; the exit status: 0, 1 (a check failed), 2 (bad arguments), 130."""
    parser, subparsers = build_parser(prog, description)
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.error(f"choose a command: {', '.join(COMMANDS)}")
        cmd, sub = COMMANDS[args.command], subparsers[args.command]
        if extra:  # reported by the command's parser, not the top-level one
            sub.error(f"unrecognized arguments: {' '.join(extra)}")
        problem = cmd.check(args) if cmd.check else None
        if problem:
            sub.error(problem)
    except SystemExit as e:  # --help (0) or a bad argument (2)
        return int(e.code or 0)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # one line, no source excerpt
            out, text = cmd.run(args)
    except UsageError as e:
        print(f"{sub.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{sub.prog}: interrupted", file=sys.stderr)
        return 130
    out = {"command": cmd.name, **out}
    print(json.dumps(finite(out), indent=2, allow_nan=False) if args.json else text)
    if not args.quiet:
        print(f"[{cmd.name} took {time.perf_counter() - start:.1f} s]", file=sys.stderr)
    return 1 if out.get("passed") is False else 0
