"""Tanji's version, as installed (pyproject.toml)."""

from __future__ import annotations


def tanji_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version('tanji')
    except PackageNotFoundError:
        return 'unknown (not installed: run make setup)'
