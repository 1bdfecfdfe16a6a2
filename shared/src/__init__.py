"""What both services share, and nothing else: the wire contract, the rule syntax, the
limits and paths both sides agree on, signing, settings, timeframes, the market-data
catalog, the web plumbing both apps use and the MongoDB client factory.

It imports neither service, and nothing heavier than numpy: the API loads it without
the engine's compiler or pandas.
"""
