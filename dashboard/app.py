"""Entry point: page setup, the shared sidebar (workspace picker) and navigation."""

import streamlit as st

from dashboard import components

st.set_page_config(page_title="llm-breakeven", page_icon=":material/balance:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/logs.py", title="Logs", icon=":material/receipt_long:"),
    st.Page("pages/economics.py", title="Economics", icon=":material/payments:"),
]

navigation = st.navigation(PAGES)
components.sidebar()
navigation.run()
