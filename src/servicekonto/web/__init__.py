"""HTTP surfaces: citizen pages, protocol routes, admin API and console (Starlette; FastAPI for the API)."""
