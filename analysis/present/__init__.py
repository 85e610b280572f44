"""Presentation shared by the CLI, the pages and the report: charts, the HTML report, formatting."""
