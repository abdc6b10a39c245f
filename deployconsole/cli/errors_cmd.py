"""STUB: ``deployconsole errors`` (being written)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    pass
