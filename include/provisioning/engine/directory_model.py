"""The directory's vocabulary: the attribute names configs may use as mapping sources.

Names follow Entra ID's user attributes so that mappings read the way identity engineers
already write them. The SQL schema that stores them is documented in docs/directory.md.
"""

USER_ATTRIBUTES: tuple[str, ...] = (
    "id",
    "userPrincipalName",
    "mail",
    "givenName",
    "surname",
    "displayName",
    "department",
    "jobTitle",
    "employeeId",
    "accountEnabled",
    "manager",
    "updatedAt",
)

# Optional columns of a source's users, never mapped: why a disabled user is out of scope (an HR
# export's "left on 2031-06-30", shown in the disable's log row instead of "disabled in the
# directory"), and a problem that makes the row unusable (skipped, its account left alone, as a
# null id is).
DISABLED_REASON = "disabledReason"
ROW_PROBLEM = "rowProblem"

GROUP_ATTRIBUTES: tuple[str, ...] = ("id", "displayName", "description", "updatedAt")

PRINCIPAL_TYPES: tuple[str, ...] = ("user", "group")

# Computed per user and app, readable by expressions and scoping filters.
COMPUTED_ATTRIBUTES: tuple[str, ...] = ("memberOf", "appRoleAssignments")
