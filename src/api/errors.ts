/**
 * The API's error-code registry: every error any route answers is
 * `{ code, message }` with one of these codes. A code keeps its meaning and
 * its HTTP status forever; a new situation gets a new code, never a reused
 * one. docs/api.md lists the same table (a test keeps the two in step).
 */

export const ERROR_CODES = {
  // Requests the API could not accept as written.
  BAD_REQUEST: {
    httpStatus: 400,
    meaning: 'A parameter, query, header or body field is missing, of the wrong type, out of range or unknown.',
  },
  MALFORMED_JSON: { httpStatus: 400, meaning: 'The body is not valid JSON (or is empty where JSON is required).' },
  UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, meaning: 'The Content-Type of the body is not one the route accepts.' },
  PAYLOAD_TOO_LARGE: { httpStatus: 413, meaning: 'The body exceeds the size limit of the route.' },
  NOT_FOUND: { httpStatus: 404, meaning: 'No route has this method and path.' },

  // Who is asking.
  UNAUTHENTICATED: { httpStatus: 401, meaning: 'No bearer token, a malformed Authorization header, or an unknown token.' },
  FORBIDDEN: { httpStatus: 403, meaning: "The token is valid but its role is below the route's role." },

  // Things the cluster refused.
  CONFIG_INVALID: { httpStatus: 400, meaning: 'The cluster settings failed validation; the message names the key.' },
  POLICY_INVALID: { httpStatus: 400, meaning: 'The security policy failed validation; the message names the key.' },
  BACKUP_INVALID: { httpStatus: 400, meaning: 'An imported backup file is not a readable hapair backup.' },
  REVISION_CONFLICT: {
    httpStatus: 412,
    meaning: 'If-Match named a revision that is no longer current: someone else changed it first.',
  },
  MEMBER_NOT_FOUND: { httpStatus: 404, meaning: 'No cluster member has this id.' },
  BACKUP_NOT_FOUND: { httpStatus: 404, meaning: 'No backup has this id.' },
  SWITCHOVER_REFUSED: {
    httpStatus: 409,
    meaning: 'The switchover cannot happen now (target unhealthy, unreachable, in maintenance, a witness...).',
  },
  MAINTENANCE_REFUSED: { httpStatus: 409, meaning: 'Maintenance mode cannot be changed for this member now.' },
  MEMBERSHIP_REFUSED: { httpStatus: 409, meaning: 'The join or leave cannot happen now (id taken, change in progress...).' },
  VERSION_MISMATCH: { httpStatus: 409, meaning: 'The joining node runs a software version different from the cluster.' },
  RESTORE_REFUSED: { httpStatus: 409, meaning: 'The backup cannot be restored now.' },
  LIMIT_EXCEEDED: { httpStatus: 429, meaning: 'A bounded resource is full (for example the number of event streams).' },

  // Where the cluster is.
  NOT_LEADER: {
    httpStatus: 503,
    meaning: 'This node is not the leader and could not forward the write; the message names the leader if known.',
  },
  NO_QUORUM: { httpStatus: 503, meaning: 'A quorum of voters is not reachable, so nothing can be committed now.' },
  TIMEOUT: {
    httpStatus: 504,
    meaning: 'The operation did not finish in time; unless the message says what became of it, its outcome is unknown: read the state again before retrying.',
  },
  UNHEALTHY: { httpStatus: 503, meaning: 'GET /healthz: the agent is not healthy.' },
  NOT_READY: { httpStatus: 503, meaning: 'GET /readyz: the node is not ready to serve (not joined, no leader...).' },
  SHUTTING_DOWN: { httpStatus: 503, meaning: 'The node is shutting down.' },
  INTERNAL: { httpStatus: 500, meaning: 'A bug: the server log has the details.' },
} as const satisfies Record<string, { readonly httpStatus: number; readonly meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(x: string): x is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, x);
}

/**
 * An operation the cluster refused or could not do. The service throws it,
 * the API answers `{ code, message }` with the registry's status (or
 * `httpStatus` when a route must differ, which should be rare).
 */
export class ServiceError extends Error {
  override name = 'ServiceError';
  readonly httpStatus: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { readonly httpStatus?: number; readonly cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.httpStatus = options?.httpStatus ?? ERROR_CODES[code].httpStatus;
  }
}

/** The JSON body of every error response (MISSION.md). */
export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}
