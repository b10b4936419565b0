"""Weights files of the deep aggregation network: stamped, validated, written atomically.

A weights file is a ``torch.save`` of a plain dict (no pickled classes), read back with
``torch.load(..., weights_only=True)``:

=================  ==============================================================================
key                content
=================  ==============================================================================
``format``         ``"prillm-abstraction-weights"``
``version``        ``1``
``feature_spec``   :data:`prillm.abstraction.features.FEATURE_SPEC` at training time
``network``        the :class:`~prillm.abstraction.network.NetworkConfig` sizes
``training``       the recipe: ``seed`` of the training set, scenario and epoch counts, the
                   learning curve (raw losses per epoch), the chosen epoch, the wall time
``state_dict``     the parameters (float64 tensors)
=================  ==============================================================================

A file that is missing, corrupt, of another format, or trained on another feature set is refused
with a :class:`prillm.MarketError` naming the file. :data:`SHIPPED_WEIGHTS` is the file in the
package, trained by the full recipe (``prillm train-abstraction`` with its defaults).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import torch

from prillm.abstraction.features import FEATURE_SPEC
from prillm.abstraction.network import NetworkConfig, ScoreNetwork
from prillm.market import MarketError

__all__ = [
    "SHIPPED_WEIGHTS",
    "WEIGHTS_FORMAT",
    "atomic_write_bytes",
    "default_network",
    "load_weights",
    "save_weights",
    "weights_bytes",
]

WEIGHTS_FORMAT = "prillm-abstraction-weights"
WEIGHTS_VERSION = 1
#: The weights shipped with the package (the full recipe's result).
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights.pt"


def _plain(value: Any, where: str = "training") -> Any:
    """``value`` as built-in types only (what ``torch.load(weights_only=True)`` accepts)."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):  # e.g. torch.__version__, a str subclass
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _plain(value.item(), where)
    raise MarketError(f"{where}: cannot store a {type(value).__name__} in a weights file")


def _payload(net: ScoreNetwork, training: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        "feature_spec": {"version": FEATURE_SPEC["version"], "names": list(FEATURE_SPEC["names"])},
        "network": net.config.to_dict(),
        "training": _plain(dict(training)),
        "state_dict": {k: v.detach().clone().cpu() for k, v in net.state_dict().items()},
    }


def weights_bytes(net: ScoreNetwork, training: dict[str, Any]) -> bytes:
    """The content of a weights file, in memory (so it can be written in one atomic step)."""
    import io

    buf = io.BytesIO()
    torch.save(_payload(net, training), buf)
    return buf.getvalue()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`prillm.io.atomic_write_bytes`: temporary
    file in the same folder, then rename; a new file gets a plain write's mode, a replaced file
    keeps its own)."""
    from prillm.io import atomic_write_bytes as write

    write(path, data)


def save_weights(path: str | os.PathLike[str], net: ScoreNetwork, training: dict[str, Any]) -> None:
    """Write a stamped weights file atomically.

    Parameters
    ----------
    path
        Destination (its folder must exist).
    net
        The trained network.
    training
        The recipe and its record (``seed`` required: the training set's seed).

    Raises
    ------
    prillm.MarketError
        If ``training`` has no integer ``seed`` or the folder does not exist.
    """
    seed = training.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise MarketError(f"training: expected an integer 'seed', got {seed!r}")
    folder = Path(path).parent
    if not folder.is_dir():
        raise MarketError(f"{path}: the folder {str(folder)!r} does not exist")
    atomic_write_bytes(path, weights_bytes(net, training))


def _bad(path: Path, why: str) -> MarketError:
    return MarketError(f"{path}: {why}")


def load_weights(path: str | os.PathLike[str] | None = None) -> ScoreNetwork:
    """Read a weights file and return the network, in evaluation mode.

    The training record is attached as ``net.meta`` (the file's ``training`` dict) together with
    ``net.source`` (the path).

    Parameters
    ----------
    path
        A weights file (default: :data:`SHIPPED_WEIGHTS`).

    Raises
    ------
    prillm.MarketError
        For a missing or corrupt file, another format or version, weights trained on another
        feature set, or parameters that do not fit the stated network.

    Examples
    --------
    >>> net = load_weights()
    >>> isinstance(net.meta["seed"], int), net.config.n_features
    (True, 20)
    """
    p = Path(SHIPPED_WEIGHTS if path is None else path)
    if not p.is_file():
        raise _bad(p, "no such weights file")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling, zip and EOF errors all mean a corrupt file
        raise _bad(p, f"not a readable weights file ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != WEIGHTS_FORMAT:
        raise _bad(p, f"not a {WEIGHTS_FORMAT!r} file")
    if data.get("version") != WEIGHTS_VERSION:
        raise _bad(p, f"unsupported version {data.get('version')!r} (expected {WEIGHTS_VERSION})")
    spec = data.get("feature_spec")
    if not isinstance(spec, dict) or spec.get("version") != FEATURE_SPEC["version"]:
        got = spec.get("version") if isinstance(spec, dict) else spec
        raise _bad(
            p,
            f"trained on feature set version {got!r}; this prillm computes version "
            f"{FEATURE_SPEC['version']} (retrain with `prillm train-abstraction`)",
        )
    if list(spec.get("names", [])) != list(FEATURE_SPEC["names"]):
        names = list(spec.get("names", []))
        diff = sorted(set(names) ^ set(FEATURE_SPEC["names"])) or ["(order)"]
        raise _bad(
            p,
            f"trained on another feature set ({len(names)} features; differs in {diff[:3]}); "
            "retrain with `prillm train-abstraction`",
        )
    training = data.get("training")
    if not isinstance(training, dict) or not isinstance(training.get("seed"), int):
        raise _bad(p, "no training record with the training set's seed")
    try:
        config = NetworkConfig(**data["network"])
        if config.n_features != len(FEATURE_SPEC["names"]):
            raise ValueError(f"n_features={config.n_features} does not match the features")
        net = ScoreNetwork(config)
        net.load_state_dict(data["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise _bad(p, f"parameters do not fit the network ({exc})") from None
    net.eval()
    net.meta = training  # type: ignore[assignment]
    net.source = str(p)  # type: ignore[assignment]
    return net


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> ScoreNetwork:
    return load_weights(path)


def default_network(path: str | os.PathLike[str] | None = None) -> ScoreNetwork:
    """:func:`load_weights` cached per file (and its modification time)."""
    p = Path(SHIPPED_WEIGHTS if path is None else path)
    try:
        mtime = p.stat().st_mtime
    except OSError:
        raise _bad(p, "no such weights file") from None
    return _cached(str(p.resolve()), mtime)
