"""Reads of relying parties."""

from __future__ import annotations
