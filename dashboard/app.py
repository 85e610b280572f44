"""Entry point: page setup, the shared sidebar (workspace picker, the one candidate) and navigation."""

import streamlit as st

import dashboard.preload  # noqa: F401  (before any other import of ours: see its docstring)
from analysis.errors import UserError
from dashboard import components, routing_state

# The favicon is an emoji (drawn by the browser): a ":material/...:" icon is fetched from fonts.gstatic.com,
# which fails offline and sends a request out of the page.
st.set_page_config(page_title="llm-breakeven", page_icon="⚖️", layout="wide")

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/logs.py", title="Logs", icon=":material/receipt_long:"),
    st.Page("views/replay.py", title="Replay", icon=":material/replay:"),
    st.Page("views/quality.py", title="Quality", icon=":material/fact_check:"),
    st.Page("views/economics.py", title="Economics", icon=":material/payments:"),
    st.Page("views/routing.py", title="Routing", icon=":material/alt_route:"),
    st.Page("views/scenarios.py", title="Scenarios & report", icon=":material/share:"),
]

navigation = st.navigation(PAGES)
try:
    components.sidebar()
    routing_state.candidate_picker()
    navigation.run()
except UserError as exc:  # any other error is a bug: Streamlit shows it (without details, see its config)
    components.show_user_error(exc)
finally:  # also after st.stop(): a page that rewrote the URL (Economics) must not drop the candidate
    routing_state.publish_choice()
