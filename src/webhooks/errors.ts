import { AppError } from '../kit/errors.js';

/** A signing secret is not `whsec_` followed by the base64 of 24–64 bytes. */
export class InvalidWebhookSecretError extends AppError {
  readonly code = 'invalid-webhook-secret';
}

/** Why a target URL was refused before any address was looked at. */
export type InvalidUrlReason = 'not-a-url' | 'too-long' | 'scheme' | 'userinfo' | 'port' | 'local-name';

/** A webhook URL is not an acceptable target: not http(s), carries credentials, names localhost… */
export class InvalidTargetUrlError extends AppError {
  readonly code = 'invalid-webhook-url';
  readonly reason: InvalidUrlReason;

  constructor(reason: InvalidUrlReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * A webhook target is, or resolves to, an address deliveries must never reach (loopback,
 * private, link-local, metadata…). Raised for literal IPs when a URL is parsed, and at connect
 * time for every address a host name resolves to.
 */
export class ForbiddenTargetError extends AppError {
  readonly code = 'webhook-target-forbidden';
  /** The forbidden range the address is in, e.g. `loopback` or `metadata`. */
  readonly range: string;
  readonly address: string;

  constructor(address: string, range: string, host?: string) {
    const via = host !== undefined && host !== address ? `${host} resolves to ` : '';
    super(`${via}${address}, a ${range} address, which webhooks may not reach`);
    this.address = address;
    this.range = range;
  }
}

/** The target's host name does not exist (NXDOMAIN): the endpoint's URL is wrong, retrying will not help. */
export class TargetNotFoundError extends AppError {
  readonly code = 'webhook-target-not-found';
}

/** Name resolution failed for now (timeout, SERVFAIL): worth retrying later. */
export class TargetDnsUnavailableError extends AppError {
  readonly code = 'webhook-target-dns-unavailable';
}

/** No webhook endpoint has this id. */
export class WebhookEndpointNotFoundError extends AppError {
  readonly code = 'webhook-endpoint-not-found';
}

/** A replay names an event the feed no longer (or never) had. */
export class ReplayEventNotFoundError extends AppError {
  readonly code = 'event-not-found';
}

/** A replay would enqueue more deliveries than one request may (narrow `since`). */
export class ReplayTooLargeError extends AppError {
  readonly code = 'replay-too-large';
}
