"""Cleanup for tests that provision the session-shared node."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError

SECURITY_API = "/_plugins/_security/api"
PROVISIONED_ROLES = ("spot_insights_writer", "spot_insights_reader")


def remove_provisioned_security(opensearch: OpenSearch, users: Sequence[str] = ()) -> None:
    """Undo what a provisioning run did to the (session-shared) security configuration."""
    paths = [f"{SECURITY_API}/rolesmapping/{role}" for role in PROVISIONED_ROLES]
    paths += [f"{SECURITY_API}/roles/{role}" for role in PROVISIONED_ROLES]
    paths += [f"{SECURITY_API}/internalusers/{user}" for user in users]
    if users:
        paths.append(f"{SECURITY_API}/rolesmapping/kibana_read_only")
    for path in paths:
        with contextlib.suppress(NotFoundError):  # the test failed before creating it
            opensearch.transport.perform_request("DELETE", path)
