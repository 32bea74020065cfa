"""The one place config becomes objects.

Every pluggable part (model loader, data source, loss, advantage estimator, reward, optimizer,
scheduler, logger, judge) is a `_target_` in `conf/` and is built here. We lean on
`hydra.utils.instantiate` rather than a registry of our own; the only thing added is an error
message that names the config key that failed, because Hydra's own message buries it under a
chained traceback.
"""
from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate as _hydra_instantiate
from omegaconf import DictConfig, OmegaConf

from funcall.utils.errors import ConfigError


def instantiate(cfg: Any, *args: Any, _key: str = "", **kwargs: Any) -> Any:
    """Build the object described by ``cfg`` (a node with ``_target_``).

    ``_key`` names the node in error messages (for example ``"loss"``), so a typo in
    ``loss._target_`` reads as ``config 'loss': ...`` rather than a Hydra stack trace.
    Returns ``None`` for a ``None`` node, so optional parts can be switched off with ``null``.
    """
    if cfg is None:
        return None
    if isinstance(cfg, DictConfig) and "_target_" not in cfg:
        raise ConfigError(f"config '{_key or '?'}' has no _target_ (keys: {sorted(cfg.keys())})")
    try:
        return _hydra_instantiate(cfg, *args, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        target = OmegaConf.select(cfg, "_target_") if isinstance(cfg, DictConfig) else "?"
        raise ConfigError(f"config '{_key or '?'}' ({target}): {cause}") from exc
