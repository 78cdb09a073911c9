/**
 * The one error catalogue. Every error a client can see is an AppError with a stable `code` and, where clients
 * need to tell cases apart, a `reason` (both a contract with the web and iOS clients: add, never rename). Each
 * error is defined once below with its message; throw sites call its factory (`throw Errors.invalidCredentials()`)
 * and code that tells errors apart compares against these constants, never against bare strings. Anything else
 * that escapes a resolver is masked as INTERNAL by the GraphQL error formatter. The browser flow's `auth_error`
 * codes and what each means to a person are at the end.
 */
export const ErrorCodes = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  RATE_LIMITED: 'RATE_LIMITED',
  CONFLICT: 'CONFLICT',
  INTERNAL: 'INTERNAL',
  /** The request is not valid GraphQL (syntax). */
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  /** The request does not validate against the schema or our limits (depth, aliases, …). */
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  /** Google could not be reached or answered 5xx/timeout: retry later, nothing was deleted. */
  GOOGLE_UNAVAILABLE: 'GOOGLE_UNAVAILABLE',
  /** The token vault (AWS Secrets Manager) could not be reached: retry later, nothing was deleted. */
  VAULT_UNAVAILABLE: 'VAULT_UNAVAILABLE',
  /** The database could not be reached (restart, failover, pool exhausted): retry later, nothing was changed. */
  DATABASE_UNAVAILABLE: 'DATABASE_UNAVAILABLE',
  /** The user must connect Gmail again (grant revoked or expired at Google). */
  RECONNECT_REQUIRED: 'RECONNECT_REQUIRED',
  /** Google did not grant a scope we need (granular consent). */
  SCOPE_MISSING: 'SCOPE_MISSING',
  /** Gmail is not connected for this user. */
  GMAIL_NOT_CONNECTED: 'GMAIL_NOT_CONNECTED',
  /** The server has no Google OAuth client configured (GOOGLE_CLIENT_ID). */
  GOOGLE_NOT_CONFIGURED: 'GOOGLE_NOT_CONFIGURED',
  /** The operation needs a recent sign-in (step-up): sign in again, or send the current password. */
  REAUTH_REQUIRED: 'REAUTH_REQUIRED',
  /** Sign in with Apple is not configured on this server (APPLE_CLIENT_IDS; the web flow also APPLE_TEAM_ID…). */
  APPLE_NOT_CONFIGURED: 'APPLE_NOT_CONFIGURED',
  /** Apple's keys or token endpoint could not be reached: retry later. */
  APPLE_UNAVAILABLE: 'APPLE_UNAVAILABLE'
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** The HTTP status a code maps to where it leaves GraphQL (the browser flow's pages); GraphQL itself answers 200. */
export const HttpStatus = {
  UNAUTHENTICATED: 401,
  BAD_USER_INPUT: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  CONFLICT: 409,
  INTERNAL: 500,
  GOOGLE_UNAVAILABLE: 503,
  VAULT_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  GOOGLE_NOT_CONFIGURED: 503,
  APPLE_NOT_CONFIGURED: 503,
  APPLE_UNAVAILABLE: 503
} as const satisfies Partial<Record<ErrorCode, number>>

/** `extensions.reason`: which case of a code it is, where clients act on the difference. */
export const Reasons = {
  INVALID_CREDENTIALS: 'INVALID_CREDENTIALS',
  ACCESS_TOKEN_EXPIRED: 'ACCESS_TOKEN_EXPIRED',
  ACCESS_TOKEN_INVALID: 'ACCESS_TOKEN_INVALID',
  REFRESH_TOKEN_MISSING: 'REFRESH_TOKEN_MISSING',
  REFRESH_TOKEN_INVALID: 'REFRESH_TOKEN_INVALID',
  REFRESH_TOKEN_REUSED: 'REFRESH_TOKEN_REUSED',
  SESSION_REVOKED: 'SESSION_REVOKED',
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  GOOGLE_ID_TOKEN_INVALID: 'GOOGLE_ID_TOKEN_INVALID',
  GOOGLE_EMAIL_UNVERIFIED: 'GOOGLE_EMAIL_UNVERIFIED',
  ACCOUNT_DISABLED: 'ACCOUNT_DISABLED',
  ACCOUNT_EXISTS: 'ACCOUNT_EXISTS',
  /** Google told us (Cross-Account Protection `account-disabled`) to refuse Sign in with Google for this account. */
  GOOGLE_ACCOUNT_BLOCKED: 'GOOGLE_ACCOUNT_BLOCKED',
  /** A Gmail connection's stateReason after Google revoked its grant (Cross-Account Protection `token(s)-revoked`). */
  REVOKED_BY_GOOGLE: 'REVOKED_BY_GOOGLE',
  /** A request without the CSRF-preventing header or content type (Mercurius, or the cookie refresh). */
  CSRF: 'CSRF',
  /** A cookie-authenticated request from an origin not in PUBLIC_ORIGINS. */
  ORIGIN_NOT_ALLOWED: 'ORIGIN_NOT_ALLOWED',
  /** The user was disabled by an operator (FORBIDDEN on every operation). */
  USER_DISABLED: 'USER_DISABLED',
  /** REAUTH_REQUIRED: no password given, and the last sign-in is older than REAUTH_MAX_AGE_SECONDS. */
  SIGN_IN_TOO_OLD: 'SIGN_IN_TOO_OLD',
  /** REAUTH_REQUIRED: the password given is not the account's. */
  PASSWORD_INCORRECT: 'PASSWORD_INCORRECT',
  /** REAUTH_REQUIRED: a password was given, but the account has none (sign in with Google again instead). */
  NO_PASSWORD: 'NO_PASSWORD',
  /** linkGoogle: another Google account is linked already (unlink it first). */
  GOOGLE_ALREADY_LINKED: 'GOOGLE_ALREADY_LINKED',
  /** linkGoogle: this Google account is linked to another user. */
  GOOGLE_ACCOUNT_IN_USE: 'GOOGLE_ACCOUNT_IN_USE',
  /** unlinkGoogle on an account without a password: it could no longer sign in. */
  PASSWORD_REQUIRED: 'PASSWORD_REQUIRED',
  /** deleteAccount: signed out everywhere and unusable; removing the Gmail grant or data failed and finishes later. */
  DELETION_PENDING: 'DELETION_PENDING',
  /** An Apple ID token that fails verification (signature, iss, aud, exp, nonce). */
  APPLE_ID_TOKEN_INVALID: 'APPLE_ID_TOKEN_INVALID',
  /** A first Sign in with Apple whose token carries no email (the app did not ask for the email scope). */
  APPLE_EMAIL_MISSING: 'APPLE_EMAIL_MISSING',
  /** linkApple: another Apple account is linked already (unlink it first). */
  APPLE_ALREADY_LINKED: 'APPLE_ALREADY_LINKED',
  /** linkApple: this Apple account is linked to another user. */
  APPLE_ACCOUNT_IN_USE: 'APPLE_ACCOUNT_IN_USE',
  /** RATE_LIMITED because the server is saturated (password hashing queue full), not because of this client. */
  SERVER_BUSY: 'SERVER_BUSY',
  /** verifyEmail, resetPassword: the link/code is unknown, already used, or for an address the account no longer has. */
  EMAIL_TOKEN_INVALID: 'EMAIL_TOKEN_INVALID',
  /** verifyEmail, resetPassword: the link/code has expired: ask for a new one. */
  EMAIL_TOKEN_EXPIRED: 'EMAIL_TOKEN_EXPIRED',
  /** serviceToken: the signed-in user has not authorized this service client (authorizeService). */
  SERVICE_NOT_AUTHORIZED: 'SERVICE_NOT_AUTHORIZED',
  /** connectGmail: the grant carries Gmail scopes beyond GMAIL_SCOPES; refused and revoked at Google. */
  SCOPE_TOO_BROAD: 'SCOPE_TOO_BROAD'
} as const

export type Reason = (typeof Reasons)[keyof typeof Reasons]

type Details = Record<string, unknown>

export class AppError extends Error {
  readonly code: ErrorCode
  /** Exposed as `extensions.reason`. */
  readonly reason: Reason | undefined
  /** Extra, non-secret fields copied into `extensions` (e.g. `retryAfterSeconds`). */
  readonly details: Details

  constructor (code: ErrorCode, message: string, details: Details = {}, options?: { cause?: unknown, reason?: Reason | undefined }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.reason = options?.reason
    this.details = details
  }
}

interface Defined { readonly code: ErrorCode, readonly reason: Reason | undefined }

/** An error with a fixed message: `Errors.x(details?, { cause }?)`. */
function define (code: ErrorCode, message: string, reason?: Reason) {
  const create = (details?: Details, options?: { cause?: unknown }) => new AppError(code, message, details, { ...options, reason })
  return Object.assign(create, { code, reason, message }) satisfies Defined
}

/** An error whose message names a value: `Errors.x(value, details?)`. */
function defineWith<A> (code: ErrorCode, message: (arg: A) => string, reason?: Reason) {
  const create = (arg: A, details?: Details) => new AppError(code, message(arg), details, { reason })
  return Object.assign(create, { code, reason }) satisfies Defined
}

const { UNAUTHENTICATED, BAD_USER_INPUT, FORBIDDEN, NOT_FOUND, CONFLICT } = ErrorCodes

export const Errors = {
  authenticationRequired: define(UNAUTHENTICATED, 'Authentication required'),
  invalidCredentials: define(UNAUTHENTICATED, 'Invalid email or password', Reasons.INVALID_CREDENTIALS),
  accessTokenExpired: define(UNAUTHENTICATED, 'Access token expired', Reasons.ACCESS_TOKEN_EXPIRED),
  accessTokenInvalid: define(UNAUTHENTICATED, 'Invalid access token', Reasons.ACCESS_TOKEN_INVALID),
  refreshTokenMissing: define(UNAUTHENTICATED, 'No refresh token', Reasons.REFRESH_TOKEN_MISSING),
  refreshTokenInvalid: define(UNAUTHENTICATED, 'Invalid refresh token', Reasons.REFRESH_TOKEN_INVALID),
  refreshTokenReused: define(UNAUTHENTICATED, 'Refresh token was already used; the session has been ended', Reasons.REFRESH_TOKEN_REUSED),
  sessionRevoked: define(UNAUTHENTICATED, 'Session has ended', Reasons.SESSION_REVOKED),
  sessionExpired: define(UNAUTHENTICATED, 'Session has expired', Reasons.SESSION_EXPIRED),
  googleIdTokenInvalid: define(UNAUTHENTICATED, 'Invalid Google ID token', Reasons.GOOGLE_ID_TOKEN_INVALID),
  appleIdTokenInvalid: define(UNAUTHENTICATED, 'Invalid Apple ID token', Reasons.APPLE_ID_TOKEN_INVALID),

  /** Password login to a disabled account (no reason: the message says it). */
  userDisabled: define(FORBIDDEN, 'This account is disabled'),
  /** Any operation of a disabled user's still-signed token (live-session check). */
  userDisabledSession: define(FORBIDDEN, 'This account is disabled', Reasons.USER_DISABLED),
  passwordRequiredToUnlink: define(FORBIDDEN, 'Set a password first: without Google this account could not sign in', Reasons.PASSWORD_REQUIRED),
  googleAccountDisabled: define(FORBIDDEN, 'This account is disabled', Reasons.ACCOUNT_DISABLED),
  googleAccountBlocked: define(FORBIDDEN, 'Google has disabled this Google account: sign in another way', Reasons.GOOGLE_ACCOUNT_BLOCKED),
  /** gmailProfile while Google holds the mailbox's (or the sign-in) Google account disabled for hijacking. */
  gmailBlockedByGoogle: define(FORBIDDEN, 'Google has disabled this Google account (suspected hijacking): the mailbox is not used until Google enables it again', Reasons.GOOGLE_ACCOUNT_BLOCKED),
  appleEmailMissing: define(FORBIDDEN, 'Apple sent no email address: sign in again allowing the email scope', Reasons.APPLE_EMAIL_MISSING),
  appleEmailUnverified: define(FORBIDDEN, 'Your Apple account has no verified email address', Reasons.APPLE_EMAIL_MISSING),
  signInMethodRequiredToUnlinkApple: define(FORBIDDEN, 'Set a password (or link Google) first: without Apple this account could not sign in', Reasons.PASSWORD_REQUIRED),
  googleEmailUnverified: define(FORBIDDEN, 'Your Google account has no verified email address', Reasons.GOOGLE_EMAIL_UNVERIFIED),
  cookieNotJson: define(FORBIDDEN, 'Cookie-authenticated requests must be sent as application/json', Reasons.CSRF),
  cookieWithoutOperationName: define(FORBIDDEN, 'Cookie-authenticated requests need the x-mercurius-operation-name header', Reasons.CSRF),
  cookieForeignOrigin: defineWith(FORBIDDEN, (arrived: string) => `Cookie-authenticated requests must come from an allowed origin: this one ${arrived}`, Reasons.ORIGIN_NOT_ALLOWED),

  invalidEmail: define(BAD_USER_INPUT, 'Enter a valid email address'),
  nameTooLong: define(BAD_USER_INPUT, 'Name must be at most 100 characters'),
  passwordTooShort: defineWith(BAD_USER_INPUT, (min: number) => `Password must be at least ${min} characters`),
  passwordTooLong: defineWith(BAD_USER_INPUT, (max: number) => `Password must be at most ${max} characters`),
  passwordTooCommon: define(BAD_USER_INPUT, 'This password is too common; choose another'),
  refreshTokenInBody: define(BAD_USER_INPUT, 'WEB clients send the refresh token in the cookie, not in the body'),
  unstorableText: define(BAD_USER_INPUT, 'Text must not contain U+0000 or unpaired surrogates'),
  emailTokenInvalid: define(BAD_USER_INPUT, 'This link or code is not valid (it may have been used already): ask for a new one', Reasons.EMAIL_TOKEN_INVALID),
  emailTokenExpired: define(BAD_USER_INPUT, 'This link or code has expired: ask for a new one', Reasons.EMAIL_TOKEN_EXPIRED),
  connectInputShape: define(BAD_USER_INPUT, 'Send either serverAuthCode, or accessToken and refreshToken'),
  connectTokensIncomplete: define(BAD_USER_INPUT, 'accessToken and refreshToken are both required'),
  codeWithoutRefreshToken: define(BAD_USER_INPUT, 'Google returned no refresh token: sign in again asking for offline access (prompt=consent)'),
  exchangeWithoutRefreshToken: define(BAD_USER_INPUT, 'Google returned no refresh token: connect again (the consent screen must ask for offline access)'),
  tokensOfAnotherApp: define(BAD_USER_INPUT, 'These tokens were issued to another application'),
  tokensOfTwoAccounts: define(BAD_USER_INPUT, 'The access token and the refresh token belong to different Google accounts'),
  idTokenOfAnotherAccount: define(BAD_USER_INPUT, 'The ID token is for another Google account than the tokens'),
  googleRejectedGrant: define(BAD_USER_INPUT, 'Google rejected the code or token (expired, used or revoked): sign in with Google again'),
  googleRejectedCredentials: define(BAD_USER_INPUT, 'Google rejected these credentials: sign in with Google again'),

  sessionNotFound: define(NOT_FOUND, 'No such active session'),
  /** Unknown or revoked service client (the same answer for both). */
  serviceClientNotFound: define(NOT_FOUND, 'No such service client'),
  serviceNotAuthorized: define(FORBIDDEN, 'Authorize this app first (authorizeService)', Reasons.SERVICE_NOT_AUTHORIZED),
  /** details: `{ extraScopes, allowedScopes }`. */
  scopeTooBroad: define(FORBIDDEN, 'This grant gives more Gmail access than this server keeps: connect again allowing only the access asked for', Reasons.SCOPE_TOO_BROAD),

  emailTaken: define(CONFLICT, 'An account with this email already exists'),
  googleAccountExists: define(CONFLICT, 'An account with this email already exists: log in with your password, then link Google', Reasons.ACCOUNT_EXISTS),
  googleLinkedToAnother: define(CONFLICT, 'This Google account is linked to another user', Reasons.GOOGLE_ACCOUNT_IN_USE),
  googleAlreadyLinked: define(CONFLICT, 'Another Google account is linked: unlink it first', Reasons.GOOGLE_ALREADY_LINKED),
  appleAccountExists: define(CONFLICT, 'An account with this email already exists: log in, then link Apple', Reasons.ACCOUNT_EXISTS),
  appleLinkedToAnother: define(CONFLICT, 'This Apple account is linked to another user', Reasons.APPLE_ACCOUNT_IN_USE),
  appleAlreadyLinked: define(CONFLICT, 'Another Apple account is linked: unlink it first', Reasons.APPLE_ALREADY_LINKED),

  /** details: `{ maxAgeSeconds }`. */
  reauthSignInTooOld: define(ErrorCodes.REAUTH_REQUIRED, 'Sign in again (or send your current password) to do this', Reasons.SIGN_IN_TOO_OLD),
  reauthNoPassword: define(ErrorCodes.REAUTH_REQUIRED, 'Sign in again (or send your current password) to do this', Reasons.NO_PASSWORD),
  reauthPasswordIncorrect: define(ErrorCodes.REAUTH_REQUIRED, 'The password is not correct', Reasons.PASSWORD_INCORRECT),
  /** Keeps the code of what failed (GOOGLE_/VAULT_/DATABASE_UNAVAILABLE, INTERNAL): `Errors.deletionPending(code)`. */
  deletionPending: Object.assign((code: ErrorCode) => new AppError(code,
    'The account is signed out everywhere and can no longer be used; removing its Gmail access and data ' +
    'failed for now and will be finished without anything more from you', {}, { reason: Reasons.DELETION_PENDING }), { reason: Reasons.DELETION_PENDING }),
  gmailConnectedToAnother: define(CONFLICT, 'This Google account is already connected to another user'),

  /** details: `{ retryAfterSeconds }`. */
  rateLimited: define(ErrorCodes.RATE_LIMITED, 'Too many attempts, try again later'),
  /** details: `{ retryAfterSeconds }`. */
  serverBusy: define(ErrorCodes.RATE_LIMITED, 'The server is busy, try again in a moment', Reasons.SERVER_BUSY),
  internal: define(ErrorCodes.INTERNAL, 'Internal server error'),
  googleUnavailable: define(ErrorCodes.GOOGLE_UNAVAILABLE, 'Google is unavailable right now, try again later'),
  vaultUnavailable: define(ErrorCodes.VAULT_UNAVAILABLE, 'Token vault is unavailable, try again later'),
  /** Still VAULT_UNAVAILABLE for clients (retry later), worded for the logs: the record would not open or parse. */
  vaultUnreadable: define(ErrorCodes.VAULT_UNAVAILABLE, 'Token vault returned an unreadable record'),
  vaultUndecryptable: define(ErrorCodes.VAULT_UNAVAILABLE, 'Token vault record could not be decrypted (wrong vault key or tampered record)'),
  databaseUnavailable: define(ErrorCodes.DATABASE_UNAVAILABLE, 'The database is unavailable right now, try again later'),
  googleNotConfigured: define(ErrorCodes.GOOGLE_NOT_CONFIGURED, 'Google is not configured on this server (GOOGLE_CLIENT_ID)'),
  appleNotConfigured: define(ErrorCodes.APPLE_NOT_CONFIGURED, 'Sign in with Apple is not configured on this server (APPLE_CLIENT_IDS)'),
  appleUnavailable: define(ErrorCodes.APPLE_UNAVAILABLE, 'Apple is unavailable right now, try again later'),
  reconnectRequired: define(ErrorCodes.RECONNECT_REQUIRED, 'Gmail access was revoked or has expired: connect Gmail again'),
  /** details: `{ missingScopes }`. */
  scopeMissing: define(ErrorCodes.SCOPE_MISSING, 'Gmail read access was not granted: connect again and allow "Read your email"'),
  gmailNotConnected: define(ErrorCodes.GMAIL_NOT_CONNECTED, 'Gmail is not connected')
}

/** Whether `err` is the catalogue's error `defined` (same code and reason). */
export function isError (err: unknown, defined: Defined): err is AppError {
  return err instanceof AppError && err.code === defined.code && err.reason === defined.reason
}

/** Framework error codes we translate into ours (Mercurius and @fastify/jwt do not export their error classes). */
export const FrameworkCodes = {
  MERCURIUS_CSRF: 'MER_ERR_GQL_CSRF_PREVENTION',
  /** An expired access token, as @fastify/jwt and fast-jwt (underneath it) name it. */
  JWT_EXPIRED: new Set(['FST_JWT_AUTHORIZATION_TOKEN_EXPIRED', 'FAST_JWT_EXPIRED'])
} as const

/**
 * The browser flow's `auth_error` codes (also the codes of its error pages) and what each means to the person in
 * front of the browser. Some are its own (the state checks), the others are the codes and reasons above as they
 * come out of a sign-in. A Map: the code comes from the query string, and a plain object would answer
 * `constructor` or `__proto__` with Object's.
 */
const AUTH_ERROR_TEXT = {
  BAD_REQUEST: 'The sign-in link is malformed.',
  REDIRECT_NOT_ALLOWED: 'The sign-in link asks to return to a site this server does not trust.',
  GOOGLE_NOT_CONFIGURED: 'Sign in with Google is not configured on this server.',
  STATE_MISSING: 'Google sent the browser back without the sign-in state. Start again.',
  STATE_MISMATCH: 'This sign-in was not started in this browser (or its cookie expired). Start again.',
  STATE_INVALID: 'This sign-in link was already used or is unknown. Start again.',
  STATE_EXPIRED: 'The sign-in took too long. Start again.',
  ACCESS_DENIED: 'You cancelled the sign-in at Google.',
  GOOGLE_ERROR: 'Google could not complete the sign-in. Start again.',
  GOOGLE_REJECTED: 'Google refused the sign-in (the code was used, expired or did not match). Start again.',
  GOOGLE_ID_TOKEN_INVALID: 'Google\'s answer could not be verified. Start again.',
  GOOGLE_UNAVAILABLE: 'Google is unavailable right now. Try again in a moment.',
  ACCOUNT_EXISTS: 'An account with this email already exists: log in with your password, then link Google.',
  GOOGLE_EMAIL_UNVERIFIED: 'Your Google account has no verified email address.',
  ACCOUNT_DISABLED: 'This account is disabled.',
  GOOGLE_ACCOUNT_BLOCKED: 'Google has disabled this Google account. Sign in another way.',
  RATE_LIMITED: 'Too many attempts. Try again later.',
  // Sign in with Apple (GET /auth/apple, POST /auth/apple/callback).
  APPLE_NOT_CONFIGURED: 'Sign in with Apple is not configured on this server.',
  APPLE_ERROR: 'Apple could not complete the sign-in. Start again.',
  APPLE_REJECTED: 'Apple refused the sign-in (the code was used, expired or did not match). Start again.',
  APPLE_ID_TOKEN_INVALID: 'Apple\'s answer could not be verified. Start again.',
  APPLE_UNAVAILABLE: 'Apple is unavailable right now. Try again in a moment.',
  APPLE_EMAIL_MISSING: 'Apple did not share an email address. Start again and share your email (or its private relay).',
  INTERNAL: 'Something went wrong on our side. Try again later.',
  // Connecting Gmail to the signed-in user (GET /auth/google?intent=connect_gmail), as `gmail_error`.
  UNAUTHENTICATED: 'You are not signed in (or your session has ended). Sign in, then connect Gmail.',
  SESSION_MISMATCH: 'Connecting Gmail was started by another sign-in than the one in this browser now. Start again.',
  CONFLICT: 'This Google account is already connected to another user.',
  SCOPE_MISSING: 'Gmail read access was not granted. Connect again and allow "Read your email".',
  REAUTH_REQUIRED: 'Connecting another Google account than the one connected needs a recent sign-in. Sign in again, then connect Gmail.',
  SCOPE_TOO_BROAD: 'Google granted more Gmail access than this server keeps (such as changing or sending mail). Connect again allowing only "Read your email".'
} as const

export type AuthErrorCode = keyof typeof AUTH_ERROR_TEXT

export const AuthErrorCodes = Object.fromEntries(Object.keys(AUTH_ERROR_TEXT).map((k) => [k, k])) as { readonly [K in AuthErrorCode]: K }

export const AUTH_ERROR_MESSAGES: ReadonlyMap<string, string> = new Map(Object.entries(AUTH_ERROR_TEXT))

/**
 * POST /oauth/token speaks OAuth (RFC 6749 §5.2, RFC 8693 §2.2.2), not GraphQL: its errors are `{ error,
 * error_description }` with these codes and HTTP statuses, defined once here like the rest.
 */
export const OAuthErrorCodes = {
  INVALID_REQUEST: 'invalid_request',
  INVALID_CLIENT: 'invalid_client',
  INVALID_GRANT: 'invalid_grant',
  UNAUTHORIZED_CLIENT: 'unauthorized_client',
  UNSUPPORTED_GRANT_TYPE: 'unsupported_grant_type',
  INVALID_SCOPE: 'invalid_scope',
  TEMPORARILY_UNAVAILABLE: 'temporarily_unavailable',
  SERVER_ERROR: 'server_error'
} as const

export type OAuthErrorCode = (typeof OAuthErrorCodes)[keyof typeof OAuthErrorCodes]

export class OAuthError extends Error {
  readonly error: OAuthErrorCode
  readonly status: number
  /** Extra, non-secret members of the JSON body (`gmail_state`) . */
  readonly extra: Record<string, string>
  readonly retryAfterSeconds: number | undefined

  constructor (error: OAuthErrorCode, status: number, description: string, options: { extra?: Record<string, string>, retryAfterSeconds?: number, cause?: unknown } = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'OAuthError'
    this.error = error
    this.status = status
    this.extra = options.extra ?? {}
    this.retryAfterSeconds = options.retryAfterSeconds
  }
}

const O = OAuthErrorCodes
const oauth = (error: OAuthErrorCode, status: number, description: string) =>
  Object.assign((options?: ConstructorParameters<typeof OAuthError>[3]) => new OAuthError(error, status, description, options), { error })

export const OAuthErrors = {
  /** RFC 6749: a 401 with WWW-Authenticate whatever way the client tried to authenticate. */
  invalidClient: oauth(O.INVALID_CLIENT, 401, 'Client authentication failed'),
  /** Both client_secret_basic and client_secret_post, or none (RFC 6749 §2.3: one method per request). */
  clientAuthAmbiguous: oauth(O.INVALID_REQUEST, 400, 'Authenticate the client with exactly one method: HTTP Basic or client_id and client_secret in the body'),
  notForm: oauth(O.INVALID_REQUEST, 400, 'Send the request as application/x-www-form-urlencoded'),
  repeatedParameter: oauth(O.INVALID_REQUEST, 400, 'A parameter was sent more than once'),
  missingParameter: (name: string) => new OAuthError(O.INVALID_REQUEST, 400, `Missing parameter: ${name}`),
  unsupportedTokenType: (name: string) => new OAuthError(O.INVALID_REQUEST, 400, `Unsupported ${name}`),
  unsupportedGrantType: oauth(O.UNSUPPORTED_GRANT_TYPE, 400, 'Only urn:ietf:params:oauth:grant-type:token-exchange is supported'),
  userIdNeedsWorker: oauth(O.UNAUTHORIZED_CLIENT, 400, 'Only worker clients may exchange a user id; send the user\'s access token instead'),
  subjectTokenInvalid: oauth(O.INVALID_GRANT, 400, 'The subject token is invalid, expired, or its session has ended'),
  /** An API access token (audience: the GraphQL API) sent as subject_token: it is not for backends (issue 21 item 1). */
  apiTokenAsSubject: oauth(O.INVALID_GRANT, 400, 'This is an API access token, accepted by the GraphQL API only: send a service token for this client (GraphQL mutation serviceToken(clientId))'),
  /** A service token minted for another client. */
  subjectTokenOfAnotherClient: oauth(O.INVALID_GRANT, 400, 'This service token was issued to another client'),
  /** The user has not authorized this client (authorizeService), or revoked it. */
  serviceNotAuthorized: oauth(O.INVALID_GRANT, 400, 'The user has not authorized this client'),
  unknownUser: oauth(O.INVALID_GRANT, 400, 'No such user'),
  /** Google disabled the user's Google account (RISC account-disabled, reason hijacking): until it enables it again. */
  googleAccountHijacked: oauth(O.INVALID_GRANT, 400, 'Google has disabled this user\'s Google account (suspected hijacking): no Gmail token until Google enables it again'),
  gmailNotConnected: () => new OAuthError(O.INVALID_GRANT, 400, 'The user has not connected Gmail', { extra: { gmail_state: 'NOT_CONNECTED' } }),
  gmailReconnectRequired: () => new OAuthError(O.INVALID_GRANT, 400, 'The user must connect Gmail again', { extra: { gmail_state: 'RECONNECT_REQUIRED' } }),
  gmailScopeMissing: () => new OAuthError(O.INVALID_GRANT, 400, 'The user did not grant Gmail read access', { extra: { gmail_state: 'SCOPE_MISSING' } }),
  invalidScope: oauth(O.INVALID_SCOPE, 400, 'The requested scope exceeds what the user granted'),
  /** Google, the vault or the database is down: nothing was deleted, retry after `retryAfterSeconds`. */
  unavailable: (retryAfterSeconds: number, cause?: unknown) => new OAuthError(O.TEMPORARILY_UNAVAILABLE, 503, 'Try again later', { retryAfterSeconds, cause }),
  /** Per-client rate limit (429 with Retry-After: RFC 6749 has no code for it; RFC 6585 has the status). */
  rateLimited: (retryAfterSeconds: number) => new OAuthError(O.TEMPORARILY_UNAVAILABLE, 429, 'Too many token requests from this client', { retryAfterSeconds }),
  serverError: (cause?: unknown) => new OAuthError(O.SERVER_ERROR, 500, 'Internal server error', { cause })
}
