"""Option parsing for the sub-commands: one-line errors, checked numbers, checked output files.

Everything that can be checked before any work starts is checked here: numeric options against
their ranges (argparse ``type=`` callables, so a bad value is refused while the command line is
parsed) and output files (:func:`check_outputs`, called at the top of a sub-command's ``run``).
Every refusal is one line naming the option and the value, with exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

__all__ = [
    "IMAGE_SUFFIXES",
    "JSON_SUFFIXES",
    "MAX_PRICE",
    "OneLineParser",
    "add_target_pricing",
    "check_outputs",
    "check_price_bounds",
    "integer",
    "number",
    "seed",
]

#: Largest price bound or marginal cost the command accepts (:data:`prillm._validation.MAX_PRICE`).
MAX_PRICE = 1e6
#: Suffixes of the JSON files the command writes.
JSON_SUFFIXES = (".json",)
#: Figure formats ``--plot`` writes (those matplotlib saves with its own backends and Pillow).
IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on standard error (exit status 2).

    argparse's own errors (a missing argument, an unknown option, a value its ``type`` refuses)
    print ``prillm: error: <what>, see '<prog> --help'`` instead of the usage block.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"prillm: error: {message} (see '{self.prog} --help')\n")


def _fmt(x: float) -> str:
    return f"{x:g}"


def number(
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    what: str = "a number",
) -> Callable[[str], float]:
    """An argparse ``type``: a finite float in ``[lo, hi]`` (``(`` / ``)`` where open).

    Examples
    --------
    >>> number(0.0, 1.0, lo_open=True)("0.5")
    0.5
    >>> number(0.0, 1.0, lo_open=True)("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a number in (0, 1], got 'nan'
    """
    interval = f"{'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if hi_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = (
            math.isfinite(value)
            and (value > lo if lo_open else value >= lo)
            and (value < hi if hi_open else value <= hi)
        )
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {what} in {interval}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def integer(lo: int, hi: int, *, what: str = "an integer") -> Callable[[str], int]:
    """An argparse ``type``: an integer (decimal digits) in ``[lo, hi]``.

    Examples
    --------
    >>> integer(1, 10)("3")
    3
    >>> integer(1, 10)("1.5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected an integer in [1, 10], got '1.5'
    """

    def parse(text: str) -> int:
        digits = text.strip()
        body = digits[1:] if digits[:1] in "+-" else digits
        value = int(digits) if body.isdigit() and len(body) <= 30 else None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what} in [{lo}, {hi}], got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


#: An argparse ``type`` for seeds: an integer in ``[0, 2**63 - 1]``.
seed = integer(0, 2**63 - 1, what="a seed (an integer)")


def add_target_pricing(p: argparse.ArgumentParser, cost_help: str = "default 0") -> None:
    """Add the arguments of a command that prices one target provider to ``p``.

    The market file, ``--target``, ``--p-max``, ``--p-min`` and ``--marginal-cost`` (USD per 1M
    tokens, each a finite number in ``[0, MAX_PRICE]``, ``--p-max`` > 0; ``cost_help`` ends the
    help of ``--marginal-cost``) and ``--prefs``. :func:`check_price_bounds` checks
    ``--p-min`` < ``--p-max``.
    """
    p.add_argument("market", help="market file (JSON, format 'prillm-market')")
    p.add_argument("--target", required=True, help="id of the provider that sets its price")
    price = f"USD per 1M tokens, at most {MAX_PRICE:g}"
    p.add_argument(
        "--p-max",
        type=number(0.0, MAX_PRICE, lo_open=True, what="a price"),
        default=None,
        help=f"upper price bound, {price} (default: where the target loses its last user)",
    )
    p.add_argument(
        "--p-min",
        type=number(0.0, MAX_PRICE, what="a price"),
        default=0.0,
        help=f"lower price bound, {price} (default 0)",
    )
    p.add_argument(
        "--marginal-cost",
        type=number(0.0, MAX_PRICE, what="a cost"),
        default=0.0,
        help=f"the target's cost, {price} ({cost_help})",
    )
    p.add_argument("--prefs", help="preferences file (JSON); overrides the market file's")


def check_price_bounds(args: Any) -> None:
    """Refuse ``--p-min`` >= ``--p-max`` (options added by :func:`add_target_pricing`).

    Raises
    ------
    prillm.MarketError
        ``--p-min: must be below --p-max (P_MAX), got P_MIN``.
    """
    from prillm._validation import MarketError

    if args.p_max is not None and args.p_min >= args.p_max:
        raise MarketError(f"--p-min: must be below --p-max ({args.p_max:g}), got {args.p_min:g}")


def check_outputs(
    outputs: Mapping[str, tuple[str | None, Iterable[str]]],
    inputs: Iterable[str | None] = (),
) -> None:
    """Check output files before any work: suffix, folder, writability, no clashes.

    Parameters
    ----------
    outputs
        Option name (``"--out"``) -> (path or ``None`` when not given, accepted suffixes).
    inputs
        Input files the outputs must not overwrite.

    Raises
    ------
    prillm.MarketError
        Naming the option and the path: an unsupported suffix, a folder that does not exist or
        cannot be written, a path that is a folder or a read-only file, two outputs on one
        path, or an output on an input file.
    """
    from prillm._validation import MarketError

    seen: dict[str, str] = {}
    sources = {_key(p): p for p in inputs if p}
    for option, (path, suffixes) in outputs.items():
        if path is None:
            continue
        allowed = tuple(suffixes)
        target = Path(path)
        if not path.strip() or target.name in ("", ".", ".."):
            raise MarketError(f"{option}: expected a file name, got {path!r}")
        if target.suffix.lower() not in allowed:
            raise MarketError(
                f"{option}: unsupported file type {target.suffix or '(no suffix)'!r} in "
                f"{path!r}; use one of {', '.join(allowed)}"
            )
        folder = target.parent
        if target.is_dir():
            raise MarketError(f"{option}: {path!r} is a folder, not a file")
        if not folder.is_dir():
            raise MarketError(f"{option}: folder {str(folder)!r} of {path!r} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise MarketError(f"{option}: cannot write in folder {str(folder)!r}")
        if target.exists() and not os.access(target, os.W_OK):
            raise MarketError(f"{option}: {path!r} is read-only")
        key = _key(path)
        if key in sources:
            raise MarketError(f"{option}: {path!r} is an input file; choose another name")
        if key in seen:
            raise MarketError(f"{option}: {path!r} is also the {seen[key]} file")
        seen[key] = option


def _key(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))
