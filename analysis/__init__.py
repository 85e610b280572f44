"""llm-breakeven's domain, grouped by the data flow: `store` (the workspace), `ingest` (log exports
to requests), `replay` (candidates answer a sample), `quality` (scores and verdicts), `economics`
(catalogues, scenario, cost, routing) and `present` (charts, report, formatting); `cli` is the
command line, `settings` and `redact` keep secrets at the edge. Never imports streamlit."""
