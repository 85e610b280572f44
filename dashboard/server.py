"""The dashboard as an ASGI app: Streamlit's app.py behind the upload spool (uploads stream to disk,
see dashboard/upload_spool.py). `breakeven dashboard` runs this file with `streamlit run`; the
settings in .streamlit/ beside it apply as they do to app.py."""

import streamlit as st
from starlette.middleware import Middleware

from dashboard.upload_spool import SpoolUploads

app = st.App("app.py", middleware=[Middleware(SpoolUploads)])
