"""The API's repositories: each collection it owns, read and written in one place."""
