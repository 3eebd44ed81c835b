"""The one error type of the provisioning steps; its message is the CloudFormation reason."""


class ProvisioningError(RuntimeError):
    """A step failed; the message is one line a person can act on."""

    def __init__(self, message: str) -> None:
        # CloudFormation shows the reason on one line, so newlines from server answers go.
        super().__init__(" ".join(message.split()))
