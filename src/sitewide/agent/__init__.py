"""The merchant decision agent: diagnoses over one merchant's own data (``rules``, pure) read through the
service's use cases (``facts``), suggestions applied with one click, audited and reversible (``apply``), questions
answered by a tool-using loop over read-only report functions (``ask``; offline templates or an
OpenAI-compatible model, ``llm``) and a daily digest (``digest``)."""
