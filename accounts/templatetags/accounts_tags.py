"""Template filters for account metrics."""

from __future__ import annotations

from django import template

from accounts.display import health_points

register = template.Library()
register.filter("health_points", health_points)
