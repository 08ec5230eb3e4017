"""One provisioning cycle: extract_assignments -> match -> diff -> apply -> report.

Each step reads what the previous one stored in the state store and returns a small summary
(the XCom). No Airflow imports: the DAG's operators, the benchmark and the tests call the same
functions.
"""
