"""Apple's APNs error responses as data.

Source: "Handling notification responses from APNs", table "Understand error codes"
(https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns).
Each reason string Apple documents maps to what we do about it. A reason not in the table falls
back on its status: 5xx and 429 are transient, other 4xx are our request's fault.
"""

from __future__ import annotations

from workers.delivery.classes import Kind

REASONS: dict[str, Kind] = {
    # 400
    "BadCollapseId": Kind.BAD_MESSAGE,  # collapse id over 64 bytes
    "BadDeviceToken": Kind.INVALID_TOKEN,  # not a token, or a sandbox token on production
    "BadExpirationDate": Kind.BAD_MESSAGE,
    "BadMessageId": Kind.BAD_MESSAGE,  # apns-id is not a UUID
    "BadPriority": Kind.BAD_MESSAGE,
    "BadTopic": Kind.AUTH_CONFIG,  # the app's configured topic is invalid
    "DeviceTokenNotForTopic": Kind.INVALID_TOKEN,  # token belongs to another app
    "DuplicateHeaders": Kind.BAD_MESSAGE,
    "IdleTimeout": Kind.RETRY,
    "InvalidPushType": Kind.BAD_MESSAGE,
    "MissingDeviceToken": Kind.INVALID_TOKEN,
    "MissingTopic": Kind.AUTH_CONFIG,
    "PayloadEmpty": Kind.BAD_MESSAGE,
    "TopicDisallowed": Kind.AUTH_CONFIG,
    # 403
    "BadCertificate": Kind.AUTH_CONFIG,
    "BadCertificateEnvironment": Kind.AUTH_CONFIG,
    "ExpiredProviderToken": Kind.REFRESH_AUTH,  # JWT older than 60 minutes
    "Forbidden": Kind.AUTH_CONFIG,
    "InvalidProviderToken": Kind.AUTH_CONFIG,  # bad signature, unknown kid or team
    "MissingProviderToken": Kind.AUTH_CONFIG,
    "UnrelatedKeyIdInToken": Kind.AUTH_CONFIG,
    "BadEnvironmentKeyIdInToken": Kind.AUTH_CONFIG,
    # 404, 405
    "BadPath": Kind.BAD_MESSAGE,
    "MethodNotAllowed": Kind.BAD_MESSAGE,
    # 410: "The device token is no longer active for the topic" (with a timestamp)
    "ExpiredToken": Kind.UNREGISTERED,
    "Unregistered": Kind.UNREGISTERED,
    # 413
    "PayloadTooLarge": Kind.BAD_MESSAGE,
    # 429
    "TooManyProviderTokenUpdates": Kind.RETRY,
    "TooManyRequests": Kind.RETRY,  # too many requests to the same device token
    # 500, 503
    "InternalServerError": Kind.RETRY,
    "ServiceUnavailable": Kind.RETRY,
    "Shutdown": Kind.RETRY,
}


def classify(status: int, reason: str) -> Kind:
    kind = REASONS.get(reason)
    if kind is not None:
        return kind
    if status == 410:
        return Kind.UNREGISTERED
    if status >= 500 or status == 429:
        return Kind.RETRY
    if status == 403:
        return Kind.AUTH_CONFIG
    return Kind.BAD_MESSAGE
