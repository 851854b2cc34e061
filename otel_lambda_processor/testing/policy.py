"""How one execution environment runs invocations: on demand, or on Lambda Managed Instances.

Owns the few decisions where the two differ, as constants. It must not hold state, and must not
touch sockets, threads, processes or the clock.
"""

from __future__ import annotations

from typing import Protocol


class Policy(Protocol):
    """The questions the model asks where the two ways of running a function differ."""

    #: ``AWS_LAMBDA_INITIALIZATION_TYPE``.
    initialization_type: str
    #: How many invocations may be open at once.
    capacity: int
    #: The runtime gets its first invocation only once every extension has called next.
    waits_for_extensions: bool
    #: Extensions subscribed to INVOKE get it, and the invocation stays open until they call
    #: next again.
    sends_invoke: bool
    #: The invocation is over as soon as the runtime posts its result.
    ends_at_response: bool
    #: The function timeout is enforced: past the deadline the environment is reset.
    enforces_deadline: bool

    def refuse_events(self, events: list[str]) -> str | None:
        """Why a registration for ``events`` is refused (403 InvalidEventType), if it is."""

    def environment(self) -> dict[str, str]:
        """The variables that tell the function which kind of environment it runs in."""


class OnDemand:
    """Lambda as most functions know it: one invocation at a time per environment.

    The runtime's first ``/invocation/next`` closes registration and waits until every extension
    has called ``/event/next`` once (init is over). Each invocation goes to the runtime and, as
    an INVOKE event, to every extension subscribed to it; it stays open until the runtime and
    each of those extensions have called next again. The caller gets the response as soon as the
    runtime posts it. AWS's runtime interface emulator holds the caller's response until the
    extensions call next; real Lambda does not (the extensions' time after the response is
    billed as PostRuntimeExtensionsDuration), and we follow real Lambda. The function timeout
    covers the whole invocation, the extensions' time included; past it the environment is reset
    (a new init), as Lambda does.
    """

    initialization_type = "on-demand"
    capacity = 1
    waits_for_extensions = True
    sends_invoke = True
    ends_at_response = False
    enforces_deadline = True

    def refuse_events(self, events: list[str]) -> str | None:
        return None

    def environment(self) -> dict[str, str]:
        return {"AWS_LAMBDA_INITIALIZATION_TYPE": self.initialization_type}


class ManagedInstances:
    """Lambda Managed Instances: up to ``max_concurrency`` invocations at once, nothing frozen.

    Any of the runtime's workers takes the next invocation while fewer than ``max_concurrency``
    are open. Extensions may register for no events at all (registering for INVOKE is refused),
    so an invocation is over when its result is posted. Simplifications we keep: the runtime does
    not wait for the extensions' first ``/event/next`` before it takes work, and no per-invocation
    timeout is enforced (Lambda documents that it is not enforced the same way there).
    """

    initialization_type = "lambda-managed-instances"
    waits_for_extensions = False
    sends_invoke = False
    ends_at_response = True
    enforces_deadline = False

    def __init__(self, max_concurrency: int) -> None:
        self.capacity = max_concurrency

    def refuse_events(self, events: list[str]) -> str | None:
        return "managed instances: no events" if events else None

    def environment(self) -> dict[str, str]:
        return {
            "AWS_LAMBDA_INITIALIZATION_TYPE": self.initialization_type,
            "AWS_LAMBDA_MAX_CONCURRENCY": str(self.capacity),
        }


def policy_for(max_concurrency: int) -> Policy:
    """Managed Instances above one concurrent invocation, on-demand otherwise."""
    return ManagedInstances(max_concurrency) if max_concurrency > 1 else OnDemand()
