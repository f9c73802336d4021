"""Reading a TOML settings file (policies, adapter configs): one place, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, Union


def read_toml(path: Union[str, Path], what: str = "config file") -> Dict[str, Any]:
    """The parsed file; ``ValueError`` naming ``what`` and the path when it is missing,
    unreadable or not valid TOML. (tomllib / tomli is imported here, not at module level: the
    ANTARES package vendors this module and ships numpy and the standard library only.)"""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11
        import tomli as tomllib
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ValueError(f"{what} {path} not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{what} {path}: {exc}") from None
