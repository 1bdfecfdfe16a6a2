"""The web plumbing both FastAPI apps use: set-up, admission, health checks, errors."""
