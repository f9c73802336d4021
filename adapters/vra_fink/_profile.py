"""``line_profiler``'s ``@profile`` when it is installed (Fink's images have it; fink-science
reviews modules with it), else a no-op, so the modules run without it."""

from __future__ import annotations

try:  # pragma: no cover - depends on the environment
    from line_profiler import profile
except ImportError:  # pragma: no cover
    def profile(func):
        return func

__all__ = ["profile"]
