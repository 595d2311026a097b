"""What the commands share: one-line errors and exit statuses, ``--debug``, logging levels,
``--version``, help that shows only meaningful defaults, results written as JSON or markdown.
Light on imports: ``--help`` must answer without torch."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Callable, NoReturn, Optional, Tuple, Type

from ..._env import env_flag

USAGE_ERROR = 2  # argparse's status for a bad command line
RUNTIME_ERROR = 1
DEBUG_ENV = "LORKD_DEBUG"  # =1: tracebacks of run-time errors, as with --debug
COMMAND_FLAGS = ("config", "debug", "quiet", "verbose")
FORMATS = ("markdown", "json")  # what a command that reports results prints


def program_name(module: str) -> str:
    """How the user started the command: a console entry point (``lorkd-train``) or
    ``python -m <module>``."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return invoked if invoked.startswith("lorkd-") else f"python -m {module}"


class CommandParser(argparse.ArgumentParser):
    """Usage errors as one line, ``<name>: error: ...``, exit status 2 (the usage is in --help)."""

    # keywords only: a positional argument would be argparse's prog, which this sets
    def __init__(self, *, name: str, **kwargs) -> None:
        super().__init__(prog=program_name(name), **kwargs)
        self.name = name

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.name}: error: {message} (see --help)\n")


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` only where X says something: not for on/off switches, unset
    options, or help that already says what happens by default."""

    def _get_help_string(self, action: argparse.Action) -> Optional[str]:
        text = action.help or ""
        if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def add_command_flags(parser: argparse.ArgumentParser, version: str) -> None:
    g = parser.add_argument_group("output and errors")
    g.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {version}",
        help="print the version and exit",
    )
    g.add_argument(
        "--debug", action="store_true", help=f"show the traceback of an error (also: {DEBUG_ENV}=1)"
    )
    loud = g.add_mutually_exclusive_group()
    loud.add_argument(
        "--quiet",
        action="store_true",
        help="log warnings only (results and where they are are still printed)",
    )
    loud.add_argument("--verbose", action="store_true", help="log debugging details too")


def add_format_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="markdown",
        help="what to print: the markdown table or the JSON results",
    )


def check_numbers(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    counts: Tuple[str, ...] = (),
    rates: Tuple[str, ...] = (),
) -> None:
    """Usage errors for the flags given among ``counts`` (must be >= 1) and ``rates`` (> 0)."""
    for name in counts + rates:
        value = getattr(args, name)
        if value is None or (value >= 1 if name in counts else value > 0):
            continue
        parser.error(
            f"--{name.replace('_', '-')} must be "
            f"{'positive' if name in counts else '> 0'}, got {value}"
        )


def configure_logging(quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("lorkd_kernels")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def debugging(flag: bool = False) -> bool:
    return flag or env_flag(DEBUG_ENV)


def one_line(err: BaseException) -> str:
    """The first line of an error's message (libraries' advice in later lines is dropped)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _forget_interrupt_inside_exec() -> None:
    """CPython notes a KeyboardInterrupt that leaves code run from a string (``exec`` of a source
    text, as ``dataclasses`` and ``namedtuple`` do while torch imports) and, at exit, kills the
    process with SIGINT even though the interrupt was handled: status -2 instead of ours. The
    next string run clears that note."""
    exec("pass")


def quiet_interrupt(name: str):
    """Decorate a command's ``main`` so that Ctrl-C anywhere, its imports included, ends it
    with one line and status 130 instead of a traceback."""

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapper(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except KeyboardInterrupt:
                print(f"{name}: error: interrupted", file=sys.stderr, flush=True)
                _forget_interrupt_inside_exec()
                return 128 + signal.SIGINT

        return wrapper

    return decorate


def _config_error() -> Type[BaseException]:
    # Imported when a command runs, not with this module: training/command_line.py imports this
    # module, and training.config's package imports command_line (a cycle at import time).
    from ..training.config import ConfigError

    return ConfigError


def run_command(
    name: str, body: Callable[[], int], runtime_errors: Tuple[Type[BaseException], ...], debug: bool
) -> int:
    """Run ``body``; known errors become one line on stderr and an exit status."""
    try:
        return body()
    except _config_error() as err:
        status, error = USAGE_ERROR, err
    except KeyboardInterrupt as err:
        status, error = 128 + signal.SIGINT, err
        _forget_interrupt_inside_exec()
    except runtime_errors as err:
        status, error = RUNTIME_ERROR, err
    if debugging(debug):
        traceback.print_exception(error)
    message = "interrupted" if isinstance(error, KeyboardInterrupt) else one_line(error)
    print(f"{name}: error: {message}", file=sys.stderr, flush=True)
    return status


def write_results(path: Path, results: dict, markdown: str) -> None:
    """A command's results written to ``path``: the markdown table if it ends in .md, else the
    JSON."""
    from ..atomic_files import atomic_open, write_json

    if path.suffix == ".md":
        with atomic_open(path) as handle:
            handle.write((markdown + "\n").encode())
    else:
        write_json(path, results)
