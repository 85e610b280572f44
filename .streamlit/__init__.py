"""The dashboard's Streamlit settings, installed as `dashboard.streamlit_config` so that
`breakeven dashboard` applies them wherever it is started from."""
