"""Live progress pushed to subscribers."""
