"""Frontends that live in the core because they need no third-party framework."""
