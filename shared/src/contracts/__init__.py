"""The wire contract between backend and backend_services, one module per resource.

Every model that crosses the HTTP boundary between the two services is defined here,
once, and imported by both sides. Fractions are plain floats (0.05 means 5 %), times are
timezone-aware UTC datetimes, money is in the quote currency of the symbol.
"""
