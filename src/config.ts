import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import path from 'node:path'
import { z } from 'zod'
import { sha256Hex } from './crypto/hashing.ts'
import { randomToken } from './crypto/secrets.ts'
import { DEFAULT_GMAIL_SCOPES, isGmailScope, readsGmail } from './gmail/gmail-scopes.ts'

/**
 * The one place that reads the environment. Everything else reads the Config object.
 * Validation fails fast at boot with a message naming each bad variable.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes')
const seconds = (dflt: number, min = 1) => z.coerce.number().int().min(min).default(dflt)
const list = z.string().transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))

const TRUST_PROXY_FORMS = 'write false, a hop count (1 = one load balancer in front), or the proxies\' addresses/CIDRs (e.g. 10.0.0.0/8,fd00::/8)'

/** An address or CIDR as proxy-addr (Fastify's trustProxy) understands it. */
function isProxyAddress (value: string): boolean {
  const [address, bits, extra] = value.split('/')
  if (extra !== undefined || address == null || isIP(address) === 0) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(address) === 4 ? 32 : 128)
}

/**
 * TRUST_PROXY as Fastify's `trustProxy` takes it: false, a hop count, or a list of addresses/CIDRs. `true` is
 * refused: Fastify would then key every per-IP limit by the left-most X-Forwarded-For entry, chosen by the client.
 */
const trustProxy = z.string().transform((raw, ctx): false | number | string[] => {
  const v = raw.trim().toLowerCase()
  if (v === 'false' || v === '0' || v === 'no') return false
  if (v === 'true' || v === 'yes') {
    ctx.addIssue({ code: 'custom', message: `'${raw}' trusts whatever X-Forwarded-For the client sends (its left-most entry); ${TRUST_PROXY_FORMS}` })
    return z.NEVER
  }
  if (/^\d+$/.test(v)) return Number(v)
  const entries = raw.split(',').map((e) => e.trim()).filter(Boolean)
  const bad = entries.filter((e) => !isProxyAddress(e))
  if (entries.length === 0 || bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `'${bad.join(',') || raw}' is not an address or CIDR; ${TRUST_PROXY_FORMS}` })
    return z.NEVER
  }
  return entries
})

/**
 * Why a value is not an origin as browsers send it in `Origin` (scheme://host[:port], lowercase, no default port,
 * no path, no trailing slash), with the value to write instead; undefined when it is one. Origins are compared as
 * exact strings, so 'http://localhost:4000/' would silently never match.
 */
export function originProblem (value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return `'${value}' is not an origin; write scheme://host[:port], e.g. http://localhost:4000`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `'${value}' is not an http(s) origin; write e.g. https://app.example.com`
  const origin = url.origin
  if (value === origin) return undefined
  const fix = `write ${origin}`
  if (url.username !== '' || url.password !== '') return `'${value}' has credentials; an origin has none: ${fix}`
  if (url.search !== '' || url.hash !== '' || /[?#]/.test(value)) return `'${value}' has a query or fragment; an origin has none: ${fix}`
  if (url.pathname !== '/') return `'${value}' has a path (${url.pathname}); an origin has none: ${fix}`
  if (value.endsWith('/')) return `'${value}' has a trailing slash; ${fix}`
  return `'${value}' is not written as browsers send it; ${fix}`
}

/**
 * Where examples/web/serve.ts serves the example web client by default (WEB_EXAMPLE_PORT 4002). It sends a browser
 * that opened localhost on to 127.0.0.1, the API's own site, so that the SameSite refresh cookie reaches the API.
 */
export const EXAMPLE_WEB_ORIGINS = ['http://127.0.0.1:4002', 'http://localhost:4002']

/** The other spelling of a loopback origin: browsers treat localhost and 127.0.0.1 as different origins. */
function loopbackTwin (origin: string): string | undefined {
  const url = new URL(origin)
  if (url.hostname !== 'localhost' && url.hostname !== '127.0.0.1') return undefined
  url.hostname = url.hostname === 'localhost' ? '127.0.0.1' : 'localhost'
  return url.origin
}

/** The bytes a key variable encodes (hex when it reads as hex, else base64/base64url), as decodeKey reads it. */
function keyBytes (value: string): number {
  const v = value.trim()
  return /^[0-9a-fA-F]+$/.test(v) && v.length % 2 === 0 ? v.length / 2 : Buffer.from(v, 'base64url').length
}

/**
 * Key variables are checked in the schema with everything else, so one start reports every bad variable at once
 * (an operator fixing secrets one restart at a time was the complaint).
 */
const signingKey = z.string().refine((v) => keyBytes(v) >= 32, 'must encode at least 32 bytes (256 bits) as hex or base64')
const vaultKey = z.string().refine((v) => keyBytes(v) === 32, 'must encode exactly 32 bytes as hex or base64')
const keyList = (check: (v: string) => boolean, message: string) => list.superRefine((keys, ctx) => {
  keys.forEach((k, i) => { if (!check(k)) ctx.addIssue({ code: 'custom', path: [i], message }) })
})

/** Origins checked per field (not in the object's refinement, which zod skips once any field failed). */
const origin = z.string().superRefine((v, ctx) => {
  const problem = originProblem(v)
  if (problem != null) ctx.addIssue({ code: 'custom', message: problem })
})
const originList = list.superRefine((values, ctx) => {
  for (const v of values) {
    const problem = originProblem(v)
    if (problem != null) ctx.addIssue({ code: 'custom', message: problem })
  }
})

/** GMAIL_SCOPES: Gmail scopes only (space- or comma-separated), at least one of which reads the mailbox. */
const gmailScopes = z.string().transform((v) => v.split(/[\s,]+/).filter(Boolean)).superRefine((values, ctx) => {
  for (const v of values) {
    if (!isGmailScope(v)) ctx.addIssue({ code: 'custom', message: `${v} is not a Gmail scope (https://www.googleapis.com/auth/gmail.* or https://mail.google.com/)` })
  }
  if (!values.some(readsGmail)) ctx.addIssue({ code: 'custom', message: 'must include a scope that reads mail (https://www.googleapis.com/auth/gmail.readonly)' })
})

const envSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Where the embedded defaults live: the PGlite database, generated keys, the local token vault. */
  DATA_DIR: z.string().min(1).default('./data'),
  /**
   * postgres:// or postgresql:// for PostgreSQL; unset for the embedded PGlite in DATA_DIR;
   * `memory://` for a throwaway in-memory PGlite (tests).
   */
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|memory:\/\/$)/, 'must be a postgresql:// URL or memory://')
    .optional(),
  DB_MIGRATE_ON_START: bool.default(true),
  LIVE_SESSION_CACHE: bool.default(true),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /**
   * Access-token signing key: ≥ 32 bytes (256 bits), given as base64, base64url or hex.
   * When unset, one is generated into DATA_DIR/jwt-secret on first start (never a hard-coded default).
   */
  JWT_SECRET: signingKey.optional(),
  /** Earlier keys still accepted for verification while tokens signed with them live out (key rotation). */
  JWT_PREVIOUS_SECRETS: keyList((k) => keyBytes(k) >= 32, 'must encode at least 32 bytes (256 bits) as hex or base64').default([]),
  /** `iss` of access tokens; default PUBLIC_URL (the issuer OIDC discovery publishes; it was `inboxgate` before). */
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).default('inboxgate-api'),
  ACCESS_TOKEN_TTL_SECONDS: seconds(900, 60),
  /** Absolute lifetime of a session (refresh-token family), whatever its use. */
  REFRESH_TOKEN_TTL_SECONDS: seconds(30 * 24 * 3600, 60),
  /** A session unused for this long ends. */
  REFRESH_TOKEN_IDLE_SECONDS: seconds(7 * 24 * 3600, 60),
  /** How long a just-rotated refresh token still converges on its successor (several tabs, a retrying phone). */
  REFRESH_REUSE_GRACE_SECONDS: seconds(10, 0),
  /** Step-up: how recent the last sign-in must be for linkGoogle, unlinkGoogle and deleteAccount without a password. */
  REAUTH_MAX_AGE_SECONDS: seconds(300, 0),
  JWT_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  /**
   * Exact origins allowed by CORS (with credentials) and for cookie-authenticated mutations; default PUBLIC_URL
   * (plus its localhost/127.0.0.1 twin unless PRODUCTION).
   */
  PUBLIC_ORIGINS: originList.optional(),
  /** `__Host-` cookies need Secure and Path=/: browsers accept Secure cookies on http://localhost too. */
  REFRESH_COOKIE_NAME: z.string().regex(/^(__Host-|__Secure-)[A-Za-z0-9_-]+$/, 'must start with __Host- or __Secure-')
    .default('__Host-inboxgate_rt'),
  REFRESH_COOKIE_SAMESITE: z.enum(['strict', 'lax']).default('strict'),
  /** Turns GraphiQL and introspection off and keeps error messages terse. */
  PRODUCTION: bool.default(false),
  /**
   * Which X-Forwarded-For entries to believe (per-IP limits behind a load balancer): `false`, a hop count, or
   * the proxies' addresses/CIDRs. Never `true`: that takes the left-most entry, which the client writes itself.
   */
  TRUST_PROXY: trustProxy.default(false),
  /** Argon2 hashes running at once (each takes a CPU for ~20 ms); default: CPUs available − 1, at least 1. */
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  /** Hashes that may wait for a slot; beyond it logins and sign-ups answer RATE_LIMITED (reason SERVER_BUSY) at once. */
  PASSWORD_HASH_QUEUE_MAX: z.coerce.number().int().min(0).max(10_000).default(64),
  /**
   * Argon2id cost: memory (KiB) and passes. Default OWASP's first setting (19 MiB, 2). Lower only where hashes need
   * not resist cracking (the test suite runs at 1 MiB, 1 pass); PRODUCTION=true refuses less than OWASP's minimum.
   */
  PASSWORD_HASH_MEMORY_KIB: z.coerce.number().int().min(64).max(4 * 1024 * 1024).default(19456),
  PASSWORD_HASH_TIME_COST: z.coerce.number().int().min(1).max(20).default(2),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(64).default(8),
  LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
  LOGIN_MAX_ATTEMPTS_PER_IP: z.coerce.number().int().min(1).default(100),
  LOGIN_WINDOW_SECONDS: seconds(15 * 60),
  SIGNUP_MAX_PER_IP: z.coerce.number().int().min(1).default(20),
  SIGNUP_WINDOW_SECONDS: seconds(3600),
  /** POST /oauth/token: token exchanges per service client per window (every process counts together). */
  OAUTH_TOKEN_MAX_PER_CLIENT: z.coerce.number().int().min(1).default(600),
  OAUTH_TOKEN_WINDOW_SECONDS: seconds(60),
  GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).max(50).default(8),
  GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).max(100).default(10),
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(64 * 1024),

  /** The web (server) OAuth client. Unset: Gmail and Google sign-in answer GOOGLE_NOT_CONFIGURED. */
  GOOGLE_CLIENT_ID: z.string().min(1).optional(),
  GOOGLE_CLIENT_SECRET: z.string().min(1).optional(),
  /** Public iOS/Android client ids whose tokens connectGmail accepts. */
  GOOGLE_IOS_CLIENT_IDS: list.default([]),
  /** One origin serving all Google endpoints at Google's paths (the emulator, `npm run dev`); unset for Google. */
  GOOGLE_API_BASE_URL: z.url().refine((u) => new URL(u).pathname === '/', 'must be an origin only (no path)').optional(),
  GOOGLE_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** Operations that call Google (connectGmail, gmailProfile, signInWithGoogle, linkGoogle, GET /auth/google), per user. */
  GOOGLE_OPS_PER_USER_PER_MINUTE: z.coerce.number().int().min(1).default(20),
  /** The same operations per client IP (signInWithGoogle and GET /auth/google have no user yet). */
  GOOGLE_OPS_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).default(120),
  /** Refresh a Gmail access token when it expires within this many seconds. */
  GMAIL_REFRESH_MARGIN_SECONDS: z.coerce.number().int().min(0).max(3000).default(300),
  /** The Gmail scopes a held grant may carry: a connect whose grant has any other Gmail scope is refused (SCOPE_TOO_BROAD). */
  GMAIL_SCOPES: gmailScopes.default(DEFAULT_GMAIL_SCOPES),
  /** The origin browsers reach this server at; default http://127.0.0.1:PORT. Google's redirect comes back here. */
  PUBLIC_URL: origin.optional(),
  /** The redirect URI registered with Google for the web client; default PUBLIC_URL + /auth/google/callback. */
  GOOGLE_REDIRECT_URI: z.url().optional(),
  /**
   * Origins `GET /auth/google?redirectTo=` may send the browser back to after signing in (exact match); default
   * PUBLIC_ORIGINS and PUBLIC_URL. Paths (`/graphiql`) always stay on this server.
   */
  AUTH_REDIRECT_ORIGINS: originList.optional(),
  /** How long a started Google sign-in may take (the `state` lifetime). */
  AUTH_STATE_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(600),
  /** A service account's JSON key (RISC Configuration Admin role): `npm run admin -- google-risc-register <url>` uses it. */
  GOOGLE_RISC_SERVICE_ACCOUNT_FILE: z.string().min(1).optional(),
  /** Security events older than this are deleted (a background job, every 6 hours and at start). */
  SECURITY_EVENT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(365),
  /** POST /google/risc refuses Security Event Tokens issued (`iat`) longer ago than this; default 7 days. */
  RISC_MAX_EVENT_AGE_SECONDS: seconds(7 * 24 * 3600, 60),
  /**
   * Sign in with Apple: the bundle ids (native apps) and Services IDs (web) whose ID tokens we accept (`aud`).
   * Unset: signInWithApple, linkApple, GET /auth/apple and POST /apple/notifications answer APPLE_NOT_CONFIGURED.
   */
  APPLE_CLIENT_IDS: list.default([]),
  /** Where Apple's keys (/auth/keys), authorize page and token endpoint are; the emulator in `npm run dev`. */
  APPLE_API_BASE_URL: z.url().refine((u) => new URL(u).pathname === '/', 'must be an origin only (no path)').default('https://appleid.apple.com'),
  /** The web flow (GET /auth/apple): the Services ID it signs in with; default the first of APPLE_CLIENT_IDS. */
  APPLE_WEB_CLIENT_ID: z.string().min(1).optional(),
  /** The redirect URI registered for the Services ID; default PUBLIC_URL + /auth/apple/callback. */
  APPLE_REDIRECT_URI: z.url().optional(),
  /** The web flow's client secret is an ES256 JWT signed with this key (Apple Developer: Keys, Sign in with Apple). */
  APPLE_TEAM_ID: z.string().min(1).optional(),
  APPLE_KEY_ID: z.string().min(1).optional(),
  /** The .p8 key's PEM; `\n` may stand for line breaks (one-line environment variables). */
  APPLE_PRIVATE_KEY: z.string().min(1).optional(),
  /**
   * `local`: AES-256-GCM files in DATA_DIR/vault (embedded default); `aws`: AWS Secrets Manager; `kms`: envelope
   * encryption under KMS_KEY_ID, ciphertexts in the database (docs/vault.md).
   */
  TOKEN_VAULT: z.enum(['local', 'aws', 'kms']).default('local'),
  /**
   * During a migration between vaults (`npm run admin -- migrate-vault`): the vault grants are moving from. Servers
   * read TOKEN_VAULT first and fall back to this one, write to TOKEN_VAULT only and delete from both.
   */
  TOKEN_VAULT_PREVIOUS: z.enum(['local', 'aws', 'kms']).optional(),
  /** TOKEN_VAULT=kms: the KMS key (id, ARN, alias/name or alias ARN) that wraps the data keys. */
  KMS_KEY_ID: z.string().min(1).optional(),
  /**
   * How long a plaintext data key stays in memory after KMS handed it out. A user's access token is refreshed about
   * once an hour, so 5 minutes covers a connect, its first reads and a refresh's read-then-write (one KMS call),
   * while a memory dump exposes only the keys of users active in the last 5 minutes.
   */
  KMS_DATA_KEY_MAX_AGE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  /**
   * Seals and opens per plaintext data key before it is dropped: a refresh is one of each, so 32 covers a burst of
   * reads and refreshes of one user, far below AES-GCM's 2^32 random-IV bound per key.
   */
  KMS_DATA_KEY_MAX_USES: z.coerce.number().int().min(1).max(1_000_000).default(32),
  /** Plaintext data keys held at once (one per recently active user; the least recently used goes first). */
  KMS_DATA_KEY_CACHE_ENTRIES: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  /** Secret name prefix: secrets are named `${prefix}${userId}`. */
  TOKEN_VAULT_PREFIX: z.string().regex(/^[A-Za-z0-9/_+=.@-]*$/, 'only characters allowed in Secrets Manager names').default('gmail/user/'),
  TOKEN_VAULT_KMS_KEY_ID: z.string().min(1).optional(),
  /** 32 bytes (hex or base64) for the local vault; generated into DATA_DIR/vault.key when unset (not in PRODUCTION). */
  LOCAL_VAULT_KEY: vaultKey.optional(),
  /** Earlier local vault keys: records sealed with them stay readable and are resealed with LOCAL_VAULT_KEY on their next write. */
  LOCAL_VAULT_PREVIOUS_KEYS: keyList((k) => keyBytes(k) === 32, 'must encode exactly 32 bytes as hex or base64').default([]),
  /**
   * Where mail is sent: smtp://user:pass@host:587 (STARTTLS when offered) or smtps://…:465. Unset: verification and
   * reset mail is queued in the outbox but not sent (a warning at start). `npm run dev` points it at the mail catcher.
   */
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
  /** The sender of that mail: an address, or `Name <address>`; default `APP_NAME <no-reply@localhost>`. */
  MAIL_FROM: z.string().min(3).optional(),
  /** The name mail and the server's email pages call the app by. */
  APP_NAME: z.string().min(1).max(100).default('inboxgate'),
  /** Where the server's email pages (verified, password changed) link back to; default PUBLIC_URL. */
  APP_URL: z.url().optional(),
  /** Lifetime of an email-verification link/code (single use). */
  EMAIL_TOKEN_TTL_SECONDS: seconds(24 * 3600, 60),
  /** Lifetime of a password-reset link/code (single use). */
  PASSWORD_RESET_TTL_SECONDS: seconds(30 * 60, 60),
  /** requestPasswordReset per address asked for, and per client IP, per EMAIL_RATE_WINDOW_SECONDS. */
  PASSWORD_RESET_MAX_PER_EMAIL: z.coerce.number().int().min(1).default(3),
  PASSWORD_RESET_MAX_PER_IP: z.coerce.number().int().min(1).default(20),
  /** resendVerificationEmail per user per EMAIL_RATE_WINDOW_SECONDS. */
  VERIFICATION_EMAIL_MAX_PER_USER: z.coerce.number().int().min(1).default(3),
  EMAIL_RATE_WINDOW_SECONDS: seconds(3600),
  /**
   * Gmail push (docs/events.md): the Pub/Sub topic every connected mailbox is watched into (`projects/P/topics/T`,
   * publish granted to gmail-api-push@system.gserviceaccount.com). Unset: no watches, no /google/pubsub.
   */
  GMAIL_PUSH_TOPIC: z.string().regex(/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$/, 'must be projects/PROJECT/topics/TOPIC').optional(),
  /** The `aud` of the push subscription's OIDC token; default PUBLIC_URL + /google/pubsub. */
  GMAIL_PUSH_AUDIENCE: z.string().min(1).optional(),
  /** The service account the push subscription authenticates as (the OIDC token's `email`); required with the topic. */
  GMAIL_PUSH_SERVICE_ACCOUNT: z.email().optional(),
  /** One webhook delivery attempt may take this long before it counts as failed. */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** How often each process looks for events to fan out and deliveries due (new ones are also woken at once). */
  WEBHOOK_POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /** Deliveries in flight per endpoint per process: a slow endpoint never holds more than this. */
  WEBHOOK_CONCURRENCY_PER_ENDPOINT: z.coerce.number().int().min(1).max(64).default(4),
  /** An endpoint whose every delivery failed for this long is disabled (default 3 days). */
  WEBHOOK_DISABLE_AFTER_SECONDS: z.coerce.number().int().min(60).default(3 * 86_400),
  /** Off: this process delivers nothing (another one does); events are still written. */
  WEBHOOK_DELIVERY_ENABLED: bool.default(true),
  /** Delivered and given-up webhook deliveries (and their events) are pruned after this many days; pending ones never. */
  WEBHOOK_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** `GET /metrics` (Prometheus text format): Google and vault calls, refresh rotations, logins, process metrics. */
  METRICS_ENABLED: bool.default(false),
  /** When set, /metrics asks for `Authorization: Bearer <token>` (compared in constant time). */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional()
}).superRefine((env, ctx) => {
  if (env.GOOGLE_CLIENT_ID != null && env.GOOGLE_CLIENT_SECRET == null) {
    ctx.addIssue({ code: 'custom', path: ['GOOGLE_CLIENT_SECRET'], message: 'is required when GOOGLE_CLIENT_ID is set' })
  }
  if (env.GMAIL_PUSH_TOPIC != null && env.GMAIL_PUSH_SERVICE_ACCOUNT == null) {
    ctx.addIssue({ code: 'custom', path: ['GMAIL_PUSH_SERVICE_ACCOUNT'], message: 'is required when GMAIL_PUSH_TOPIC is set (only pushes signed for this service account are accepted)' })
  }
  if (env.APPLE_WEB_CLIENT_ID != null && !env.APPLE_CLIENT_IDS.includes(env.APPLE_WEB_CLIENT_ID)) {
    ctx.addIssue({ code: 'custom', path: ['APPLE_WEB_CLIENT_ID'], message: 'must be one of APPLE_CLIENT_IDS' })
  }
  if (env.PRODUCTION && new URL(env.APPLE_API_BASE_URL).protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', path: ['APPLE_API_BASE_URL'], message: 'must be https: with PRODUCTION=true (Apple\'s signing keys are fetched from it)' })
  }
  for (const name of ['TOKEN_VAULT', 'TOKEN_VAULT_PREVIOUS'] as const) {
    if (env[name] === 'kms' && env.KMS_KEY_ID == null) {
      ctx.addIssue({ code: 'custom', path: ['KMS_KEY_ID'], message: `is required with ${name}=kms (a key id, key ARN or alias/name)` })
    }
  }
  if (env.TOKEN_VAULT_PREVIOUS != null && env.TOKEN_VAULT_PREVIOUS === env.TOKEN_VAULT) {
    ctx.addIssue({ code: 'custom', path: ['TOKEN_VAULT_PREVIOUS'], message: 'must differ from TOKEN_VAULT (it names the vault grants are moving from); unset it once migrate-vault is done' })
  }
  if (env.PRODUCTION) productionProblems(env, (name, message) => ctx.addIssue({ code: 'custom', path: [name], message }))
})

/**
 * What PRODUCTION=true refuses: conveniences of development that would weaken a real deployment. A generated key
 * file lives and dies with one machine's disk (another instance makes its own: tokens and grants stop matching),
 * and an http: Google base URL is where the ID-token signing keys are fetched from, so whoever answers it mints
 * identities.
 */
function productionProblems (env: { GOOGLE_API_BASE_URL?: string | undefined, JWT_SECRET?: string | undefined, TOKEN_VAULT: string, TOKEN_VAULT_PREVIOUS?: string | undefined, LOCAL_VAULT_KEY?: string | undefined, PASSWORD_HASH_MEMORY_KIB: number, PASSWORD_HASH_TIME_COST: number, PUBLIC_URL?: string | undefined, METRICS_ENABLED: boolean, METRICS_TOKEN?: string | undefined }, issue: (name: string, message: string) => void): void {
  // Cookies are Secure, redirects and CORS origins derive from it: over http tokens and cookies cross the network in clear.
  if (env.PUBLIC_URL == null || !env.PUBLIC_URL.startsWith('https://')) {
    issue('PUBLIC_URL', 'must be set to an https: URL with PRODUCTION=true (the address clients reach, e.g. https://api.example.com)')
  }
  // Metrics name clients, users' outcomes and the server's internals: never to anyone who asks.
  if (env.METRICS_ENABLED && env.METRICS_TOKEN == null) {
    issue('METRICS_TOKEN', 'is required with PRODUCTION=true and METRICS_ENABLED=true (at least 16 characters; /metrics then needs Authorization: Bearer <token>)')
  }
  if (env.GOOGLE_API_BASE_URL != null && new URL(env.GOOGLE_API_BASE_URL).protocol !== 'https:') {
    issue('GOOGLE_API_BASE_URL', 'must be https: with PRODUCTION=true (Google\'s signing keys for ID tokens are fetched from it); unset it for Google')
  }
  if (env.JWT_SECRET == null) {
    issue('JWT_SECRET', 'is required with PRODUCTION=true (a generated key file is per machine); set 32 random bytes as base64 or hex')
  }
  // OWASP's Argon2id table: at least 7 MiB, and memory × passes at least that of m = 7 MiB, t = 5.
  if (env.PASSWORD_HASH_MEMORY_KIB < 7168 || env.PASSWORD_HASH_MEMORY_KIB * env.PASSWORD_HASH_TIME_COST < 7168 * 5) {
    issue('PASSWORD_HASH_MEMORY_KIB', 'is below OWASP\'s Argon2id minimum with PRODUCTION=true (at least 7168 KiB, and KiB × PASSWORD_HASH_TIME_COST at least 35840); unset both for 19456 KiB × 2')
  }
  if (env.TOKEN_VAULT === 'local' && env.LOCAL_VAULT_KEY == null) {
    issue('LOCAL_VAULT_KEY', 'is required with PRODUCTION=true and TOKEN_VAULT=local (a generated key file is per machine); set 32 random bytes as base64 or hex, or use TOKEN_VAULT=aws')
  }
  if (env.TOKEN_VAULT_PREVIOUS === 'local' && env.LOCAL_VAULT_KEY == null) {
    issue('LOCAL_VAULT_KEY', 'is required with PRODUCTION=true and TOKEN_VAULT_PREVIOUS=local: the records being migrated were sealed with it')
  }
}

export type Env = z.infer<typeof envSchema>

export interface Config extends Omit<Env, 'APPLE_REDIRECT_URI' | 'APPLE_PRIVATE_KEY' | 'JWT_ISSUER' | 'JWT_SECRET' | 'JWT_PREVIOUS_SECRETS' | 'LOCAL_VAULT_KEY' | 'LOCAL_VAULT_PREVIOUS_KEYS' | 'PUBLIC_URL' | 'PUBLIC_ORIGINS' | 'GOOGLE_REDIRECT_URI' | 'AUTH_REDIRECT_ORIGINS' | 'MAIL_FROM' | 'APP_URL' | 'GMAIL_PUSH_AUDIENCE'> {
  PUBLIC_URL: string
  MAIL_FROM: string
  APP_URL: string
  GMAIL_PUSH_AUDIENCE: string
  JWT_ISSUER: string
  /** JWT_ISSUER was left unset: tokens of before the switch to ES256 carry its former default, `inboxgate`. */
  jwtIssuerDefaulted: boolean
  PUBLIC_ORIGINS: string[]
  GOOGLE_REDIRECT_URI: string
  APPLE_REDIRECT_URI: string
  /** APPLE_PRIVATE_KEY with its line breaks restored. */
  APPLE_PRIVATE_KEY?: string | undefined
  AUTH_REDIRECT_ORIGINS: string[]
  /** The current signing key and the keys still accepted, by key id. */
  jwtKeys: { current: { kid: string, key: Buffer }, accepted: Map<string, Buffer> }
  /** LOCAL_VAULT_KEY (null: the generated DATA_DIR/vault.key) and LOCAL_VAULT_PREVIOUS_KEYS, decoded and checked. */
  localVaultKeys: { current: Buffer | null, previous: Buffer[] }
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** JWT_PREVIOUS_SECRETS[1], as the variable's entries are counted in messages. */
function formatPath (p: PropertyKey[]): string {
  return p.map((k, i) => typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`).join('')
}

export function parseEnv (env: Record<string, string | undefined>): Env {
  // Empty strings count as unset: `FOO=` in a .env file should not override a default with ''.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const result = envSchema.safeParse(cleaned)
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${formatPath(i.path) || '(env)'}: ${i.message}`)
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`)
  }
  return result.data
}

export function decodeKey (name: string, value: string): Buffer {
  const v = value.trim()
  const key = /^[0-9a-fA-F]+$/.test(v) && v.length % 2 === 0 ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64url')
  // HS256 needs a key at least as long as its output (RFC 7518 §3.2); 256 bits from a CSPRNG.
  if (key.length < 32) throw new ConfigError(`Invalid configuration:\n  ${name}: must encode at least 32 bytes (256 bits) as hex or base64`)
  return key
}

/** A key id that names the key without revealing it (a prefix of its SHA-256). */
function keyIdOf (key: Buffer): string {
  return sha256Hex(key).slice(0, 16)
}

async function loadOrCreateSecret (dataDir: string, file: string): Promise<string> {
  const p = path.join(dataDir, file)
  try {
    return (await readFile(p, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const secret = randomToken(32)
  // 'wx' fails if another process created it meanwhile: then read theirs.
  try {
    await writeFile(p, secret + '\n', { mode: 0o600, flag: 'wx' })
    return secret
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return (await readFile(p, 'utf8')).trim()
  }
}

export async function loadConfig (env: Record<string, string | undefined> = process.env): Promise<Config> {
  const parsed = parseEnv(env)
  const { JWT_SECRET, JWT_PREVIOUS_SECRETS, LOCAL_VAULT_KEY, LOCAL_VAULT_PREVIOUS_KEYS, ...rest } = parsed
  // AES-256 takes exactly 32 bytes: a longer value would be a different key, not a stronger one.
  const vaultKey = (name: string, value: string) => {
    const key = decodeKey(name, value)
    if (key.length !== 32) throw new ConfigError(`Invalid configuration:\n  ${name}: must encode exactly 32 bytes as hex or base64`)
    return key
  }
  const localVaultKeys = {
    current: LOCAL_VAULT_KEY == null ? null : vaultKey('LOCAL_VAULT_KEY', LOCAL_VAULT_KEY),
    previous: LOCAL_VAULT_PREVIOUS_KEYS.map((k, i) => vaultKey(`LOCAL_VAULT_PREVIOUS_KEYS[${i}]`, k))
  }
  const currentKey = decodeKey('JWT_SECRET', JWT_SECRET ?? await loadOrCreateSecret(parsed.DATA_DIR, 'jwt-secret'))
  const current = { kid: keyIdOf(currentKey), key: currentKey }
  const accepted = new Map<string, Buffer>([[current.kid, currentKey]])
  JWT_PREVIOUS_SECRETS.forEach((s, i) => {
    const k = decodeKey(`JWT_PREVIOUS_SECRETS[${i}]`, s)
    accepted.set(keyIdOf(k), k)
  })
  const host = ['0.0.0.0', '::', ''].includes(parsed.HOST) ? '127.0.0.1' : parsed.HOST
  const publicUrl = parsed.PUBLIC_URL ?? new URL(`http://${host.includes(':') ? `[${host}]` : host}:${parsed.PORT}`).origin
  // Without PUBLIC_ORIGINS, this server's own pages (GraphiQL) may spend the refresh cookie; in development also
  // from the loopback name the browser was not pointed at, the usual "works on localhost, not on 127.0.0.1".
  const twin = parsed.PRODUCTION ? undefined : loopbackTwin(publicUrl)
  // And, outside PRODUCTION, the example web client's default origin (`npm run web`, `npm run dev`): beside
  // `npm start` it otherwise showed only "Failed to fetch".
  const example = parsed.PRODUCTION ? [] : EXAMPLE_WEB_ORIGINS
  const publicOrigins = parsed.PUBLIC_ORIGINS ?? [...new Set([publicUrl, ...(twin == null ? [] : [twin]), ...example])]
  return {
    ...rest,
    PUBLIC_URL: publicUrl,
    JWT_ISSUER: parsed.JWT_ISSUER ?? publicUrl,
    jwtIssuerDefaulted: parsed.JWT_ISSUER == null,
    PUBLIC_ORIGINS: publicOrigins,
    GOOGLE_REDIRECT_URI: parsed.GOOGLE_REDIRECT_URI ?? `${publicUrl}/auth/google/callback`,
    GMAIL_PUSH_AUDIENCE: parsed.GMAIL_PUSH_AUDIENCE ?? `${publicUrl}/google/pubsub`,
    APPLE_REDIRECT_URI: parsed.APPLE_REDIRECT_URI ?? `${publicUrl}/auth/apple/callback`,
    APPLE_PRIVATE_KEY: parsed.APPLE_PRIVATE_KEY?.replace(/\\n/g, '\n'),
    APPLE_WEB_CLIENT_ID: parsed.APPLE_WEB_CLIENT_ID ?? parsed.APPLE_CLIENT_IDS[0],
    AUTH_REDIRECT_ORIGINS: parsed.AUTH_REDIRECT_ORIGINS ?? [...new Set([...publicOrigins, publicUrl])],
    MAIL_FROM: parsed.MAIL_FROM ?? `${JSON.stringify(parsed.APP_NAME)} <no-reply@localhost>`,
    APP_URL: parsed.APP_URL ?? publicUrl,
    jwtKeys: { current, accepted },
    localVaultKeys
  }
}
