"""The ``ops-center`` command line: one module per command group, sharing ``output`` (human or
``--json``), ``settings`` (the login file) and ``client`` (the gateway, problem+json shown as
readable errors)."""
