"""Provides the classification of Azure SDK errors into the provider's error kinds.

    401/403, AuthorizationFailed, a credential that cannot get a token      AuthError
    409 OperationNotAllowed (quota), QuotaExceeded                          QuotaError
    SkuNotAvailable, AllocationFailed, ZonalAllocationFailed, Overconstr…   CapacityError
    InvalidParameter on vmSize, an unknown size                             UnsupportedFlavor
    5xx, 429, network failures, timeouts, anything else                     TransientError

A long-running operation that ends Failed raises an `HttpResponseError` whose status is the polling answer's
(200): its kind comes from the error code in the operation's body, so codes are looked at before statuses.
"""

from __future__ import annotations

import json
from typing import Any

from scitq.cloud.provider import (
    AuthError, CapacityError, ProviderError, QuotaError, TransientError, UnsupportedFlavor,
)

__all__ = ["classify", "error_code", "is_not_found"]

AUTH_CODES = {"authenticationfailed", "authorizationfailed", "invalidauthenticationtoken",
              "expiredauthenticationtoken", "invalidauthenticationtokentenant", "linkedauthorizationfailed",
              "subscriptionnotfound", "invalidsubscriptionid"}
QUOTA_CODES = {"operationnotallowed", "quotaexceeded", "resourcequotaexceeded", "lowprioritycoresquotaexceeded"}
CAPACITY_CODES = {"skunotavailable", "allocationfailed", "zonalallocationfailed", "overconstrainedallocationrequest",
                  "overconstrainedzonalallocationrequest", "spotvmcapacityunavailable"}
SIZE_CODES = {"vmsizenotsupported", "invalidvmsize", "vmsizeisnotpermittedtoenableacceleratednetworking"}
NOT_FOUND_CODES = {"resourcenotfound", "resourcegroupnotfound", "notfound", "parentresourcenotfound"}


def error_code(exc: BaseException) -> tuple[str, str, str]:
    """(code, message, target) of an Azure error, read from the parsed error or from the response body."""
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) or ""
    message = getattr(err, "message", None) or ""
    target = getattr(err, "target", None) or ""
    response = getattr(exc, "response", None)
    if not code and response is not None:
        try:
            body: Any = json.loads(response.text())
        except Exception:       # not JSON: no code to read
            body = None
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            code = str(inner.get("code") or "")
            message = str(inner.get("message") or message)
            target = str(inner.get("target") or target)
    if not message:
        message = str(getattr(exc, "message", "") or exc)
    return code, message.splitlines()[0] if message else "", target


def is_not_found(exc: BaseException) -> bool:
    """True for a 404 or a not-found code: the thing is already gone."""
    from azure.core.exceptions import ResourceNotFoundError
    if isinstance(exc, ResourceNotFoundError) or getattr(exc, "status_code", None) == 404:
        return True
    return error_code(exc)[0].lower() in NOT_FOUND_CODES


def classify(exc: BaseException, *, region: str = "", flavor: str = "") -> ProviderError:
    """The provider error for an Azure SDK (or network) exception, with a one-line message."""
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
    if isinstance(exc, ProviderError):
        return exc
    where = " ".join(x for x in ("azure", region, flavor) if x)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, TimeoutError, ConnectionError)):
        return TransientError(f"{where}: network: {_first_line(exc)}", provider="azure", region=region, flavor=flavor)
    code, message, target = error_code(exc)
    low = code.lower()
    status = getattr(exc, "status_code", None)
    text = f"{where}: {code or status or type(exc).__name__}: {message}"
    kind: type[ProviderError]
    if low in AUTH_CODES or status in (401, 403) or isinstance(exc, ClientAuthenticationError) or _credential(exc):
        kind = AuthError
    elif low in QUOTA_CODES:
        kind = QuotaError
    elif low in CAPACITY_CODES:
        kind = CapacityError
    elif low in SIZE_CODES or (low in ("invalidparameter", "badrequest", "invalidrequestcontent")
                               and ("vmsize" in target.lower().replace(".", "").replace("_", "")
                                    or "vmsize" in message.lower().replace(" ", ""))):
        kind = UnsupportedFlavor
    else:
        kind = TransientError
    return kind(text, provider="azure", region=region, flavor=flavor)


def _credential(exc: BaseException) -> bool:
    try:
        from azure.identity import CredentialUnavailableError
    except ImportError:     # azure-identity is a dependency; without it there is no credential error to see
        return False
    return isinstance(exc, CredentialUnavailableError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
