"""Configuration, read once at the edge (CLI / app factory) and passed in; nothing deeper reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITEWIDE_")

    data_dir: Path = Path("var")
    database_url: str | None = None  # default: sqlite file under data_dir
    operator_key: str | None = None  # SITEWIDE_OPERATOR_KEY: register this operator key at start-up
    load_catalogue: bool = True  # seed the store with the packaged real-product catalogue when empty
    scorer_path: Path | None = None  # ranker checkpoint to serve (default: the shipped one)
    # creatives: an OpenAI-compatible chat-completions server for copy (optional; offline templates without it)
    llm_url: str | None = None  # e.g. http://127.0.0.1:8001/v1 (vLLM, Ollama, Qwen's compatible mode)
    llm_key: str | None = None
    llm_model: str = "qwen-plus"
    llm_timeout_s: float = 10.0

    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sitewide.sqlite'}"
