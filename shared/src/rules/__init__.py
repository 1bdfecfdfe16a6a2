"""The rule language's syntax: parsing, the functions a rule may call (their signatures),
and the static checks both services run on rules and sweep constraints. numpy at most:
computing the functions is the engine's job."""
