"""Deploy-time setup of the search domain: index template, write alias, ISM policy, security
roles and mappings, read-only users and Dashboards saved objects (CDK Provider framework)."""
