"""Replay: send a frozen sample of logged requests to candidate models (providers, the embedded
engine, background runs, history), and measure an endpoint's capacity (probe)."""
