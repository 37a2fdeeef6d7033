"""Type checks for the fields a codec copies into an event: a wrong type raises ``ValueError`` naming the
field, which the codec turns into a counted ``bad_field`` rejection (never an event with a bad value)."""
from __future__ import annotations


def number(value: object, name: str) -> float:
    """A price or size: venues send decimal text (``"0.01"``); a JSON number is taken too, a bool never."""
    cls = value.__class__
    if cls is float or cls is int:
        return float(value)  # type: ignore[arg-type]  # float or int, checked by class just above
    if cls is str:
        try:
            return float(value)  # type: ignore[arg-type]  # str, checked by class just above
        except ValueError:
            raise ValueError(f"{name!r} must be a decimal number, not {value[:40]!r}") from None  # type: ignore[index]
    raise ValueError(f"{name!r} must be a decimal number, not {type(value).__name__}")


def integer(value: object, name: str) -> int:
    """An id, a count or a time in ms: a JSON integer, not text and not a bool."""
    if value.__class__ is int:
        return value
    raise ValueError(f"{name!r} must be an integer, not {type(value).__name__}")


def text(value: object, name: str) -> str:
    if value.__class__ is str:
        return value
    raise ValueError(f"{name!r} must be a string, not {type(value).__name__}")


def flag(value: object, name: str) -> bool:
    if value.__class__ is bool:
        return value
    raise ValueError(f"{name!r} must be true or false, not {type(value).__name__}")


def levels(rows: object, name: str) -> tuple[tuple[float, float], ...]:
    """Book levels ``[["price", "size"], ...]`` -> ``((price, size), ...)``."""
    if rows.__class__ is not list:
        raise ValueError(f"{name!r} must be an array of [price, size] rows")
    try:
        return tuple([(number(p, name), number(q, name)) for p, q in rows])
    except (TypeError, ValueError) as exc:  # a row that is not a pair: name the field
        if repr(name) in str(exc):
            raise
        raise ValueError(f"{name!r} must be an array of [price, size] rows: {exc}") from None


def whole(value: object, name: str) -> int:
    """A whole number sent either as a JSON integer or as digits in text (``"1700000000"``)."""
    if value.__class__ is int:
        return value
    if value.__class__ is str and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"{name!r} must be a whole number, not {type(value).__name__}")
