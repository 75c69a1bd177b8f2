"""One settings class for the service, validated at startup.

Values come from, highest priority first: ``TWINRANK_*`` environment variables, an optional settings
file (TOML or JSON, ``TWINRANK_SETTINGS_FILE`` or ``load_settings(path)``), then the defaults below.
"""

from __future__ import annotations

import json
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Hard caps baked into the public request schema; the settings may only tighten them.
MAX_QUERY_CHARS_CAP = 2048
MAX_ADS_CAP = 1000
MAX_TOP_K_CAP = 1000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWINRANK_", extra="forbid", validate_default=True)

    # Bundles
    bundles: Path = Field(Path("bundles"), description="bundle root (holds CURRENT) or one version directory")
    watch_interval_s: float = Field(2.0, ge=0, description="how often CURRENT is checked; 0 turns watching off")
    reload_enabled: bool = Field(True, description="offer POST /admin/reload")
    admin_token: SecretStr | None = Field(None, description="bearer token for /admin/*; required when reload is on")
    environment: Literal["development", "production"] = "development"

    # Request limits
    max_query_chars: int = Field(256, ge=1, le=MAX_QUERY_CHARS_CAP)
    max_ads: int = Field(200, ge=1, le=MAX_ADS_CAP)
    max_top_k: int = Field(100, ge=1, le=MAX_TOP_K_CAP)
    default_top_k: int = Field(10, ge=1)
    max_body_bytes: int = Field(256 * 1024, ge=1024)

    # Ranking
    # Auction defaults from `twinrank replay` (reports/qadsm-de/auction/): the served student's most revenue with at
    # most 20 % of shown ads Bad on the German test split: 0.0276/query (w 0.5, no floor: 0.0216), Bad 18.6 % (43 %)
    defect_weight: float = Field(0.1, ge=0, allow_inf_nan=False, description="w in bid·p_click − w·p_defect")
    min_relevance: float = Field(0.4, ge=0, le=1, allow_inf_nan=False,
                                 description="relevance floor of a request that gives none")
    reserve: float | None = Field(0.0, allow_inf_nan=False,
                                  description="reserve score of a request that gives none; None: no reserve")
    retrieve_k: int = Field(100, ge=1, description="candidates taken from the ANN index before rescoring")

    # Throughput and overload
    max_inflight: int = Field(64, ge=1, description="/rank requests running or waiting for a slot; past it the "
                              "answer is 429")
    max_concurrency: int = Field(2, ge=1, description="/rank requests running at once; the others wait in a FIFO "
                                 "queue for a slot (bounded by queue_budget_ms). 2 on two cores: one query "
                                 "encoder thread and one event loop; more only queue inside, unseen by admission "
                                 "(reports/reliability: at 5x capacity admitted p99 26-31 ms at 2, 48-59 ms at 4; "
                                 "at half capacity p99 within noise)")
    queue_budget_ms: float = Field(10.0, ge=0, allow_inf_nan=False, description="longest a /rank request may "
                                   "be predicted to wait for a slot; one whose predicted wait is longer is refused "
                                   "at once (429, Retry-After); one let in is refused only after 3 budgets or its "
                                   "X-Request-Timeout-Ms, which may only lower the budget")
    queue_target_ms: float = Field(5.0, gt=0, allow_inf_nan=False, description="CoDel target: when every request "
                                   "for queue_interval_ms queued longer than this before admission, the budget "
                                   "drops to it until one gets through faster")
    queue_interval_ms: float = Field(100.0, gt=0, allow_inf_nan=False, description="CoDel interval (above)")
    early_refusal: bool = Field(True, description="refuse /rank in the HTTP protocol, as soon as its headers are "
                                "read, when admission would refuse it anyway (the event loop's lag taken as its "
                                "queueing time): no ASGI task or middleware is spent on it")
    retrieve_on_event_loop: bool = Field(True, description="query-only requests search and score on the event "
                                         "loop (two thread hand-offs fewer); off: on the worker threads")
    worker_threads: int = Field(4, ge=1, description="threads ranking requests with ads (and query-only ones when "
                                "retrieve_on_event_loop is off)")
    compute_nice: int = Field(0, ge=0, le=19, description="nice value of the threads that encode and rank (the "
                              "query batcher, the rank workers; Linux): above 0 the event loop, which reads "
                              "requests and refuses the ones admission turns away, wins the cores from them "
                              "under overload")
    max_batch: int = Field(32, ge=1, description="most queries encoded in one ONNX call")
    max_batch_wait_ms: float = Field(2.0, ge=0, le=50, description="longest a query waits for batch company")
    fast_rank_path: bool = Field(True, description="serve POST /rank from plain ASGI (same contract, less CPU); "
                                 "off: through the FastAPI route")
    query_cache_size: int = Field(10_000, ge=0, description="LRU entries of query vectors; 0 turns it off")
    swap_warm_queries: int = Field(2048, ge=0, description="a bundle with a new query tower encodes this many of "
                                   "the served cache's most recent queries before it is swapped in (at the "
                                   "loader's low priority), so it starts with a warm cache; 0: it starts empty")
    swap_warm_budget_s: float = Field(10.0, ge=0, allow_inf_nan=False, description="longest that warming may "
                                      "take; the queries not reached by then start uncached")
    keep_spare_model: bool = Field(True, description="keep the model (sessions, query cache) of a version swapped "
                                   "out for a new model, so a rollback to it opens nothing; costs that model's "
                                   "memory")
    ad_encode_batch: int = Field(64, ge=1)
    shutdown_grace_s: float = Field(10.0, ge=0, description="how long shutdown waits for in-flight requests")

    # Connections (uvicorn; `service.server.uvicorn_options`)
    keep_alive_timeout_s: int = Field(5, ge=1, description="an idle keep-alive connection is closed after this")
    header_timeout_s: float = Field(10.0, gt=0, allow_inf_nan=False, description="a connection whose request "
                                    "headers are not complete this long after it opened or went idle is closed")
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="request line + headers; past it the answer "
                                  "is 431 and the connection is closed")
    max_connections: int = Field(2048, ge=1, description="open connections (and tasks); past it new requests get "
                                 "503 from uvicorn")

    # Logs
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per line (ts, level, "
                                                "logger, msg, request_id, route, status, latency_ms, ...)")
    access_log: bool = Field(True, description="one log line per request (request id, route, status, latency)")

    # Runtimes
    ort_intra_op_threads: int = Field(1, ge=0, description="0 lets ONNX Runtime choose; 1 wins on 2 cores")
    ort_inter_op_threads: int = Field(1, ge=0)
    faiss_threads: int = Field(1, ge=1)
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="cuda: ORT CUDA provider and FAISS on GPU")
    # int8 query tower: 2.6x less encode CPU, German QADSM test ROC-AUC 0.8400 vs 0.8421 fp32 (models/de export report)
    encoder_precision: Literal["fp32", "int8"] = Field("int8", description="int8 falls back to fp32 if absent")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.reload_enabled and self.admin_token is None and self.environment == "production":
            raise ValueError("admin_token is required when reload_enabled is true in production")
        if self.admin_token is not None and len(self.admin_token.get_secret_value()) < 8:
            raise ValueError("admin_token must be at least 8 characters")
        if self.default_top_k > self.max_top_k:
            raise ValueError(f"default_top_k ({self.default_top_k}) exceeds max_top_k ({self.max_top_k})")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments, then the environment, then the settings file, then defaults.
        return init_settings, env_settings, _FileSource(settings_cls), file_secret_settings


_SETTINGS_FILE: ContextVar[Path | None] = ContextVar("twinrank_settings_file", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """Values from the settings file chosen by `load_settings` (or TWINRANK_SETTINGS_FILE)."""

    def get_field_value(self, field, field_name):  # noqa: ANN001, ANN201 - required by the base class
        return None, field_name, False

    def __call__(self) -> dict:
        file = _SETTINGS_FILE.get()
        if file is None and os.environ.get("TWINRANK_SETTINGS_FILE"):
            file = Path(os.environ["TWINRANK_SETTINGS_FILE"])
        return read_settings_file(file) if file else {}


def read_settings_file(path: Path) -> dict:
    """Settings file values (TOML or JSON, by extension); a missing or malformed file raises ValueError."""
    if not path.is_file():
        raise ValueError(f"settings file {path} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"settings file {path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}") from exc
    return data.get("service", data) if isinstance(data, dict) else {}


def load_settings(file: Path | None = None, **overrides: object) -> Settings:
    """Settings from explicit overrides (None means unset), the environment and an optional file."""
    token = _SETTINGS_FILE.set(file)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _SETTINGS_FILE.reset(token)
