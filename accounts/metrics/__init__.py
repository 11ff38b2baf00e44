"""Account metrics: derived data, rebuilt from the raw tables (see DESIGN.md)."""

from __future__ import annotations

from .recompute import METRIC_FIELDS, compute_accounts, recompute_accounts

__all__ = ["METRIC_FIELDS", "compute_accounts", "recompute_accounts"]
