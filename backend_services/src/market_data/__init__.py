"""Market data on the compute service: reading and checking uploaded files, imports,
and the column-bucket store."""
