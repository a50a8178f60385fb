"""Parse and validate breaker options into an immutable configuration."""

import difflib
from typing import Any, Optional
from uuid import uuid4

from . import _constants
from ._options import BreakerConfig
from ._validate import callable_or_none, describe, positive_int, seconds
from .backoff import Backoff
from .storage import SharedStorage
from .strategies import CircuitBreakerStrategy, strategy_code, window_rule

# 0.5.0 accepted every option positionally, in this order.
POSITIONAL_OPTIONS = (
    "breaker_id",
    "detect_error",
    "error_threshold",
    "exception_blacklist",
    "exception_whitelist",
    "on_close",
    "on_open",
    "recovery_threshold",
    "recovery_timeout",
    "strategy",
)
# 0.5.0's code named the lists differently from its README; both spellings work.
ALIASES = {
    "exception_denylist": "exception_blacklist",
    "exception_allowlist": "exception_whitelist",
}
# Options added after 0.5.0 are keyword-only.
KEYWORD_OPTIONS = (
    "clock",
    "registry",
    "half_open_max_calls",
    "fallback",
    "on_half_open",
    "on_state_change",
    "storage",
)
OPTION_NAMES = frozenset(POSITIONAL_OPTIONS + KEYWORD_OPTIONS + tuple(ALIASES))


def check_option_names(args: tuple[Any, ...], options: Any, owner: str) -> None:
    """Refuse too many positional options, or an unknown one (naming the nearest known)."""
    if len(args) > len(POSITIONAL_OPTIONS):
        raise TypeError(
            f"{owner}() takes at most {len(POSITIONAL_OPTIONS)} positional options, "
            f"got {len(args)}"
        )
    for name in options:
        if name not in OPTION_NAMES:
            nearest = difflib.get_close_matches(str(name), sorted(OPTION_NAMES), n=1)
            hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
            raise TypeError(f"{owner}() got an unexpected option {name!r}{hint}")
        if ALIASES.get(name, name) in POSITIONAL_OPTIONS[:len(args)]:
            raise TypeError(f"{owner}() got multiple values for option "
                            f"{ALIASES.get(name, name)!r}")


def make_config(
    args: tuple[Any, ...], options: dict[str, Any], owner: str = "CircuitBreaker"
) -> BreakerConfig:
    """Bind 0.5.0-style positional ``args`` and keyword ``options``; validate them all."""
    check_option_names(args, options, owner)
    values = dict(zip(POSITIONAL_OPTIONS, args))
    values.update(options)
    return _config(values, owner)


def config_of(parameters: dict[str, Any], owner: str = "CircuitBreaker") -> BreakerConfig:
    """Validate the options a breaker's parameters bound (``locals()`` of its __init__)."""
    return _config({name: parameters[name] for name in OPTION_NAMES}, owner)


def options_of(config: BreakerConfig) -> dict[str, Any]:
    """Return the options, by canonical name, that build a breaker with ``config``."""
    return {name: getattr(config, name) for name in POSITIONAL_OPTIONS + KEYWORD_OPTIONS}


def _config(values: dict[str, Any], owner: str) -> BreakerConfig:
    """Validate ``values`` by option name; an alias counts as given when not None."""
    for alias, canonical in ALIASES.items():
        value = values.pop(alias, None)
        if value is None:
            continue
        if values.get(canonical) is not None:
            raise TypeError(
                f"{owner}() got both {canonical!r} and its alias {alias!r}; pass only one"
            )
        values[canonical] = value
    return _validate(**values)


# Every value is the user's, unchecked until here: hence Any.
def _validate(
    breaker_id: Any = None,
    detect_error: Any = None,
    error_threshold: Any = _constants.DEFAULT_ERROR_THRESHOLD,
    exception_blacklist: Any = None,
    exception_whitelist: Any = None,
    on_close: Any = None,
    on_open: Any = None,
    recovery_threshold: Any = _constants.DEFAULT_RECOVERY_THRESHOLD,
    recovery_timeout: Any = _constants.DEFAULT_RECOVERY_TIMEOUT,
    strategy: Any = None,
    clock: Any = None,
    registry: Any = None,
    half_open_max_calls: Any = None,
    fallback: Any = None,
    on_half_open: Any = None,
    on_state_change: Any = None,
    storage: Any = None,
) -> BreakerConfig:
    # None is the default rule (a default a signature can show: see _core_c).
    if strategy is None:
        strategy = CircuitBreakerStrategy.SINGLE_RESET
    # Before breaker_id gets its default: a shared breaker needs one given.
    storage = _storage_or_none(storage, breaker_id)
    if breaker_id is None:
        breaker_id = uuid4()
    else:
        try:
            hash(breaker_id)
        except TypeError:
            raise TypeError(
                f"breaker_id must be hashable, got {breaker_id!r} "
                f"({type(breaker_id).__name__})"
            ) from None
    return BreakerConfig(
        breaker_id=breaker_id,
        detect_error=callable_or_none("detect_error", detect_error),
        error_threshold=positive_int("error_threshold", error_threshold),
        exception_blacklist=_exception_classes("exception_blacklist", exception_blacklist),
        exception_whitelist=_exception_classes("exception_whitelist", exception_whitelist),
        on_close=callable_or_none("on_close", on_close),
        on_open=callable_or_none("on_open", on_open),
        recovery_threshold=positive_int("recovery_threshold", recovery_threshold),
        recovery_timeout=(
            recovery_timeout
            if isinstance(recovery_timeout, Backoff)
            else seconds("recovery_timeout", recovery_timeout)
        ),
        strategy=strategy,
        strategy_code=strategy_code(strategy),
        rule=window_rule(strategy),
        clock=callable_or_none("clock", clock),
        registry=_registry_or_none(registry),
        half_open_max_calls=(
            None
            if half_open_max_calls is None
            else positive_int("half_open_max_calls", half_open_max_calls)
        ),
        # An async fallback is awaited by async calls.
        fallback=callable_or_none("fallback", fallback, sync=False),
        on_half_open=callable_or_none("on_half_open", on_half_open),
        on_state_change=callable_or_none("on_state_change", on_state_change),
        storage=storage,
    )


def _storage_or_none(storage: Any, breaker_id: Any) -> Optional[SharedStorage]:
    """Return ``storage`` if a breaker with ``breaker_id`` can use it."""
    if storage is None:
        return None
    if not isinstance(storage, SharedStorage):
        raise TypeError(
            f"storage must be a storage such as RedisStorage, or None, got {describe(storage)}"
        )
    if breaker_id is None:
        raise ValueError(
            "storage needs an explicit breaker_id: every process sharing the breaker "
            "must name it the same"
        )
    return storage


def _exception_classes(name: str, value: Any) -> tuple[type[BaseException], ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or isinstance(value, type):
        # A bare class or a string is iterable-looking but never what was meant.
        raise TypeError(
            f"{name} must be an iterable of exception classes, got {describe(value)}"
        )
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an iterable of exception classes, got {describe(value)}"
        ) from None
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(
                f"{name} must contain only exception classes, got {describe(item)}"
            )
    return items


def _registry_or_none(registry: Any) -> Any:
    if registry is not None and not callable(getattr(registry, "register", None)):
        raise TypeError(
            f"registry must be a CircuitBreakerRegistry or None, got {describe(registry)}"
        )
    return registry
