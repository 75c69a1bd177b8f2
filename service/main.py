"""ASGI entry point: `uvicorn --factory service.main:app_from_env` builds the app from TWINRANK_* settings."""

from __future__ import annotations

from fastapi import FastAPI

from service.api.app import create_app
from service.api.server import configure_protocol
from service.settings import load_settings


def app_from_env() -> FastAPI:
    settings = load_settings()
    configure_protocol(settings)  # uvicorn's worker processes get the connection limits here
    return create_app(settings)
