"""The workspace: one DuckDB file, its migrations and SQL helpers, and the queries over the
logged requests (totals, breakdowns, the request browser) that every page and command reads."""
