"""The HTTP API's request and response bodies (pydantic), shared by the service (``sitewide.service``) and the
typed client (``sitewide.client``). Imports pydantic and the domain only: neither FastAPI nor the engine."""
