"""The Matrix Synapse target: accounts through Synapse's admin API, groups as rooms the
connection's admin account creates (see docs/targets/synapse.md)."""
