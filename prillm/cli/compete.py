"""``prillm compete``: the price equilibrium when several providers set their prices.

Usage::

    prillm compete MARKET.json [--players a,b,c] [--costs COSTS.json] [--prefs PREFS.json]
                   [--method gauss-seidel|jacobi] [--damping D] [--max-rounds N] [--tol T]
                   [--respond-to ID=PRICE] [--json] [--plot FILE]

Without ``--respond-to``: the players (default every provider) best-respond to each other with
exact best responses until no player can gain (``converged``), the prices cycle (``cycle``) or
``--max-rounds`` runs out (``not_converged``); the table shows each player's price, profit and
its epsilon (what it could still gain by moving alone). With ``--respond-to ID=PRICE``: provider
``ID`` moves to ``PRICE`` and stays there, and the other players answer (they best-respond in
turn until they settle among themselves).

``COSTS.json`` is a JSON object with optional ``"marginal_costs"`` (provider id -> USD per
million tokens) and ``"price_bounds"`` (provider id -> ``[lo, hi]``, ``hi`` may be ``null``),
and optionally ``"format": "prillm-costs"`` and ``"version": 1``. Entries for providers that do
not play are ignored; unknown provider ids are errors.

``--plot FILE`` (``.png``, ``.svg`` or ``.pdf``) draws the path of best responses: each player's
price per round and the largest relative gain per round. It is written, atomically and with the
mode a plain write gives, only once everything else has succeeded. The numeric options
(``--damping`` in (0, 1], ``--max-rounds`` in [1, :data:`MAX_ROUNDS`], ``--tol`` in
[1e-13, 1e-2]), the price of ``--respond-to`` and the numbers of ``COSTS.json`` (finite, in
[0, :data:`~prillm.cli._options.MAX_PRICE`]) are checked, and the plot's path too, before any
work. Input errors exit with status 2 (one line on standard error). A cycle or a run out of
rounds is an answer, not an error: the status says so (exit 0). Prices whose best responses
could not all be proven global optima (status ``not_certified``) are printed, and the command
exits with status 3.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path
from typing import Any

from prillm.cli._common import EXIT_SOLVER, load_market_and_prefs, report, table
from prillm.cli._options import MAX_PRICE, check_outputs, integer, number

__all__ = ["MAX_ROUNDS", "PLOT_FORMATS", "TOL_MAX", "TOL_MIN", "add_parser", "read_costs", "run"]

#: Plot file extensions accepted by ``--plot``.
PLOT_FORMATS = (".png", ".svg", ".pdf")
COSTS_FORMAT = "prillm-costs"
#: Largest ``--max-rounds`` (each round is one exact best response per player).
MAX_ROUNDS = 10_000
#: ``--tol`` range (relative epsilon): below 1e-13 round-off alone exceeds it; above 1e-2 a
#: "converged" answer would leave players more than 1 % to gain.
TOL_MIN, TOL_MAX = 1e-13, 1e-2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``compete`` on an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser(
        "compete",
        help="the price equilibrium when several providers set their prices",
        description="Best-response dynamics among providers, each best response exact; "
        "the answer is certified by every player's best-response gain (epsilon).",
    )
    p.add_argument("market", help="market file (JSON, format 'prillm-market')")
    p.add_argument("--players", help="comma-separated provider ids that set prices (default all)")
    p.add_argument("--costs", metavar="FILE", help="marginal costs and price bounds (JSON)")
    p.add_argument("--prefs", help="preferences file (JSON); overrides the market file's")
    p.add_argument(
        "--method",
        default="gauss-seidel",
        choices=("gauss-seidel", "jacobi"),
        help="players move in turn (gauss-seidel, default) or all at once (jacobi)",
    )
    p.add_argument(
        "--damping",
        type=number(0.0, 1.0, lo_open=True),
        default=1.0,
        help="step towards the best response, in (0, 1] (default 1)",
    )
    p.add_argument(
        "--max-rounds",
        type=integer(1, MAX_ROUNDS),
        default=100,
        help=f"rounds before giving up (default 100, at most {MAX_ROUNDS})",
    )
    p.add_argument(
        "--tol",
        type=number(TOL_MIN, TOL_MAX),
        default=1e-9,
        help=f"largest relative epsilon accepted, in [{TOL_MIN:g}, {TOL_MAX:g}] (default 1e-9)",
    )
    p.add_argument(
        "--respond-to",
        metavar="ID=PRICE",
        help="provider ID moves to PRICE (held there); what do the others do?",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument(
        "--plot", metavar="FILE", help="draw the path of best responses (.png/.svg/.pdf)"
    )
    p.set_defaults(func=run)
    return p


def read_costs(path: str, provider_ids: tuple[str, ...]) -> tuple[dict, dict]:
    """Read a costs file: ``(marginal_costs, price_bounds)`` keyed by provider id.

    Raises
    ------
    prillm.MarketError
        For a missing or malformed file, an unknown field or provider id, or a value of the
        wrong type (the numbers themselves are checked by the game).
    """
    from prillm._validation import check_number
    from prillm.io import read_json
    from prillm.market import MarketError

    data = read_json(path)
    if not isinstance(data, dict):
        raise MarketError(f"{path}: expected a JSON object, got {type(data).__name__}")
    allowed = {"format", "version", "marginal_costs", "price_bounds"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise MarketError(
            f"{path}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    if data.get("format", COSTS_FORMAT) != COSTS_FORMAT:
        raise MarketError(f"{path}: format: expected {COSTS_FORMAT!r}, got {data['format']!r}")
    if data.get("version", 1) != 1:
        raise MarketError(f"{path}: version: expected 1, got {data['version']!r}")
    out = []
    for key in ("marginal_costs", "price_bounds"):
        section = data.get(key, {})
        if not isinstance(section, dict):
            raise MarketError(f"{path}: {key}: expected an object keyed by provider id")
        for pid, value in section.items():
            if pid not in provider_ids:
                raise MarketError(f"{path}: {key}: unknown provider id {pid!r}")
            if key == "marginal_costs" and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise MarketError(
                    f"{path}: marginal_costs[{pid!r}]: expected a number, got {value!r}"
                )
            if key == "price_bounds" and not (
                isinstance(value, list)
                and len(value) == 2
                and all(
                    v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                    for v in value
                )
                and value[0] is not None
            ):
                raise MarketError(
                    f"{path}: price_bounds[{pid!r}]: expected [lo, hi] with numbers (hi may be "
                    f"null), got {value!r}"
                )
            values = [value] if key == "marginal_costs" else value
            for k, v in enumerate(values):
                name = f"{key}[{pid!r}]" + ("" if key == "marginal_costs" else f"[{k}]")
                if v is not None and abs(check_number(f"{path}: {name}", v)) > MAX_PRICE:
                    raise MarketError(
                        f"{path}: {name}: expected at most {MAX_PRICE:g} USD per 1M tokens, "
                        f"got {v!r}"
                    )
        out.append(dict(section))
    return out[0], out[1]


def _players(text: str | None) -> list[str] | None:
    from prillm.market import MarketError

    if text is None:
        return None
    names = [t.strip() for t in text.split(",")]
    if not names or any(not t for t in names):
        raise MarketError(f"--players: expected comma-separated provider ids, got {text!r}")
    return names


def _respond_to(text: str) -> tuple[str, float]:
    from prillm.market import MarketError

    pid, sep, value = text.rpartition("=")
    if not sep or not pid.strip():
        raise MarketError(f"--respond-to: expected ID=PRICE, got {text!r}")
    try:
        price = float(value)
    except ValueError:
        raise MarketError(f"--respond-to: the price must be a number, got {value!r}") from None
    if not (math.isfinite(price) and 0 <= price <= MAX_PRICE):
        raise MarketError(
            f"--respond-to: the price must be finite and >= 0, at most {MAX_PRICE:g} USD per 1M "
            f"tokens, got {value!r}"
        )
    return pid.strip(), price


def _game_inputs(args: argparse.Namespace, market: Any) -> tuple[Any, Any, Any]:
    """Players, and the costs and bounds of those who play."""
    players = _players(args.players)
    costs, bounds = ({}, {}) if args.costs is None else read_costs(args.costs, market.provider_ids)
    playing = set(market.provider_ids if players is None else players)
    if args.respond_to is not None:
        playing.add(args.respond_to.split("=")[0].strip())
    costs = {k: v for k, v in costs.items() if k in playing}
    bounds = {k: v for k, v in bounds.items() if k in playing}
    return players, costs or None, bounds or None


def _equilibrium_report(res: Any, source: str) -> str:
    game = res.game
    eq = res.equilibrium
    lines = [
        f"Price equilibrium among {game.n_players} providers ({res.method}, damping "
        f"{res.damping:g}; preferences: {source})",
        f"status: {res.status}: {res.reason}",
        f"{res.n_rounds} rounds, {res.n_best_responses} exact best responses, "
        f"{res.wall_time:.3g} s",
        "",
        table(
            ["provider", "list $/M", "price $/M", "cost $/M", "profit $", "share", "epsilon (rel)"],
            [
                [
                    pid,
                    f"{game.market.price[game.players[k]]:.4g}",
                    f"{res.prices[k]:.6g}",
                    f"{game.marginal_costs[k]:.4g}",
                    f"{res.profits[k]:.6g}",
                    f"{eq.shares[game.players[k]]:.2%}",
                    f"{res.certificate.relative[k]:.1e}",
                ]
                for k, pid in enumerate(game.player_ids)
            ],
        ),
        "",
        f"users: total cost (Eq. 1) {res.users_cost:.6g} $, payment {res.users_payment:.6g} $",
    ]
    if res.cycle is not None:
        cyc = res.cycle
        lines += [
            "",
            f"the cycle (period {cyc.period}, {cyc.kind}): prices at the start of each round",
            table(
                ["round", *game.player_ids],
                [
                    [str(cyc.first_round + t), *(f"{p:.6g}" for p in row)]
                    for t, row in enumerate(cyc.prices)
                ],
            ),
        ]
    return "\n".join(lines)


def _response_report(resp: Any, before_market: Any, source: str) -> str:
    res = resp.others
    game = res.game
    lines = [
        f"{resp.mover!r} moves to {resp.price:.6g} $/M (from "
        f"{before_market.price[before_market.provider_index(resp.mover)]:.6g}); the others "
        f"answer ({res.method}; preferences: {source})",
        f"status: {res.status}: {res.reason}",
        "",
        table(
            ["provider", "before $/M", "after $/M", "profit after $", "epsilon (rel)"],
            [
                [
                    pid,
                    f"{before_market.price[game.players[k]]:.6g}",
                    f"{res.prices[k]:.6g}",
                    f"{res.profits[k]:.6g}",
                    f"{res.certificate.relative[k]:.1e}",
                ]
                for k, pid in enumerate(game.player_ids)
            ],
        ),
        "",
        f"{resp.mover!r} profit: {resp.before:.6g} $ before, {resp.unanswered:.6g} $ if "
        f"nobody answered, {resp.answered:.6g} $ once the others answer",
        f"users: total cost (Eq. 1) {res.users_cost:.6g} $, payment {res.users_payment:.6g} $",
    ]
    return "\n".join(lines)


def _figure(res: Any, title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    hist = res.history
    rounds = np.arange(hist.shape[0])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, dpi=150)
    for k, pid in enumerate(res.player_ids):
        ax1.step(rounds, hist[:, k], where="post", label=pid)
    ax1.set_ylabel("price (USD / 1M tokens)")
    ax1.set_title(title, fontsize=10)
    if res.game.n_players <= 10:
        ax1.legend(fontsize=8)
    gains = np.zeros(max(hist.shape[0] - 1, 0))
    for s in res.steps:
        gains[s["round"] - 1] = max(gains[s["round"] - 1], s["relative_gain"])
    ax2.semilogy(rounds[1:], np.maximum(gains, 1e-17), "o-", ms=3)
    ax2.axhline(res.tol, color="grey", ls=":", label=f"tol {res.tol:g}")
    ax2.set_xlabel("round of best responses")
    ax2.set_ylabel("largest relative gain")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run(args: argparse.Namespace) -> int:
    """Run ``prillm compete``; returns the exit status."""
    from prillm._optional import require_installed
    from prillm.io import atomic_write_bytes
    from prillm.pricing.competition import price_equilibrium
    from prillm.pricing.respond import respond_to

    # everything that can be checked before the work starts
    check_outputs(
        {"--plot": (args.plot, PLOT_FORMATS)}, inputs=[args.market, args.prefs, args.costs]
    )
    mover = _respond_to(args.respond_to) if args.respond_to is not None else None
    _players(args.players)
    if args.plot is not None:
        require_installed(["matplotlib"], "prillm compete --plot")
    market, prefs, source = load_market_and_prefs(args.market, args.prefs)
    players, costs, bounds = _game_inputs(args, market)
    options = {"method": args.method, "damping": args.damping, "max_rounds": args.max_rounds}
    options["tol"] = args.tol
    if mover is None:
        res = price_equilibrium(market, prefs, players, costs, bounds, **options)
        payload = res.to_dict()
        text = _equilibrium_report(res, source)
        shown, title = res, "best responses from the list prices"
    else:
        resp = respond_to(market, prefs, mover[0], mover[1], players, costs, bounds, **options)
        payload = resp.to_dict()
        text = _response_report(resp, market, source)
        shown, title = resp.others, f"the others answer {resp.mover} at {resp.price:g} $/M"
    out = report(payload, source, text, args.json, allow_nan=False)
    if args.plot is not None:  # the figure is made before anything is written
        fig = _figure(shown, title)
        buffer = io.BytesIO()
        fig.savefig(buffer, format=Path(args.plot).suffix.lower().lstrip("."))
        import matplotlib.pyplot as plt

        plt.close(fig)
        atomic_write_bytes(args.plot, buffer.getvalue())
    print(out)
    if args.plot is not None and not args.json:
        print(f"wrote {args.plot}", file=sys.stderr)
    # an equilibrium whose best responses could not be proven: printed, and said by the status
    return EXIT_SOLVER if shown.status == "not_certified" else 0
