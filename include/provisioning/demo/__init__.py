"""The demo world: a generated directory and scim2-server processes standing in for SaaS apps.

Used by ``make run``, the tests and the benchmark, so all three exercise the same setup.
"""
