"""`botclub`, the command line: runs the whole stack on one machine and administers its
data. It sits above both services (it starts them and writes their collections through
their own modules), so neither service imports it."""
