"""Test helpers: tiny models and bundles the tests build themselves (no hub, no ../shared), a real server."""
