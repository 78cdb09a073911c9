/*
 * THE LEAN REFERENCE — benchmark-only, NOT part of inboxgate. Nothing in src/ imports it and the product's build
 * (scripts/build.mjs) never bundles it; bench/run.ts bundles it with esbuild and runs it as its own process,
 * pinned to the same CPU as the server under test, on the same database.
 *
 * It does the same work as the product's hot paths with nothing around them, to give the ratio of issue 15 a
 * denominator: a bare Fastify route (logger off, no hooks, no plugins), fast-jwt ES256 with the verifiers (one per
 * key of the server's published JWKS, as an outside verifier would hold them) and a signer (a P-256 key of its own:
 * the same signing cost) built once, and node-postgres prepared statements on a pool of the same size (DB_POOL_MAX). It keeps the
 * product's semantics where they decide what the database must do:
 * - GET /me: the same checks as src/sessions/live-session.ts (signature, iss, aud, typ, exp; the session row joined
 *   to its user in one statement; a revoked, expired or idle session, a disabled or departing user is refused);
 *   answers exactly what GraphQL answers for `{ me { id email } }`.
 * - POST /refresh: rotation as src/sessions/sessions-service.ts does it (the token must be the session's current
 *   one; a compare-and-swap update stores the successor, its sealed copy for the grace window and the previous
 *   hash; the hash leaving the grace slot goes to retired_refresh_tokens), written the lean way: one read, then
 *   one statement (a CTE) that updates and inserts atomically. Only the rotation path: a token that is not the
 *   current one is answered 401 (the bench never sends one).
 * - GET /constant: a constant JSON of the same size as the `me` answer, the ceiling of any Fastify route here.
 *
 * Environment: PORT, HOST, DATABASE_URL (with ?schema=), JWKS_URL (the server's /.well-known/jwks.json), JWT_ISSUER, JWT_AUDIENCE,
 * ACCESS_TOKEN_TTL_SECONDS, REFRESH_TOKEN_IDLE_SECONDS, DB_POOL_MAX. Prints `READY <port>`.
 */
import { createCipheriv, createHash, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import Fastify from 'fastify'
import pg from 'pg'

const env = process.env
const issuer = env.JWT_ISSUER ?? 'inboxgate'
const audience = env.JWT_AUDIENCE ?? 'inboxgate-api'
const idleMs = Number(env.REFRESH_TOKEN_IDLE_SECONDS ?? 30 * 86400) * 1000

// The server's public keys, fetched once: one verifier per kid.
const jwks = await (await fetch(env.JWKS_URL!)).json() as { keys: Array<JsonWebKey & { kid: string }> }
const verifiers = new Map(jwks.keys.map((jwk) => [jwk.kid, createVerifier({
  key: createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString(),
  algorithms: ['ES256'],
  allowedIss: issuer,
  allowedAud: audience,
  checkTyp: 'at+jwt',
  requiredClaims: ['sub', 'sid', 'iat', 'exp', 'iss', 'aud']
})]))
const verify = (token: string): { sub: string, sid: string } => {
  const kid = (JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString()) as { kid?: unknown }).kid
  const verifier = typeof kid === 'string' ? verifiers.get(kid) : undefined
  if (verifier == null) throw new Error('unknown kid')
  return verifier(token) as { sub: string, sid: string }
}
const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const sign = createSigner({ key: signingKey, algorithm: 'ES256', kid: 'lean', iss: issuer, aud: audience, expiresIn: Number(env.ACCESS_TOKEN_TTL_SECONDS ?? 900) * 1000, header: { alg: 'ES256', typ: 'at+jwt' } })

const url = new URL(env.DATABASE_URL!)
const schema = url.searchParams.get('schema')
url.searchParams.delete('schema')
const pool = new pg.Pool({ connectionString: url.toString(), max: Number(env.DB_POOL_MAX ?? 10), ...(schema != null ? { options: `-c search_path="${schema}"` } : {}) })

const ME = {
  name: 'lean_me',
  text: `SELECT s.user_id, s.revoked_at, s.expires_at, s.last_used_at, u.email, u.disabled_at, u.deletion_requested_at
           FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`
}
const READ_SESSION = {
  name: 'lean_refresh_read',
  text: `SELECT s.id, s.user_id, s.client_kind, s.current_token_hash, s.previous_token_hash, s.revoked_at, s.expires_at,
                s.last_used_at, s.auth_time, u.email, u.name, u.disabled_at
           FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.current_token_hash = $1 OR s.previous_token_hash = $1`
}
const ROTATE = {
  name: 'lean_refresh_rotate',
  text: `WITH rotated AS (
           UPDATE sessions SET current_token_hash = $3, previous_token_hash = $2, successor_sealed = $4, rotated_at = $5,
                               last_used_at = $5, generation = generation + 1
            WHERE id = $1 AND current_token_hash = $2 AND revoked_at IS NULL
           RETURNING id
         ), retired AS (
           INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at)
           SELECT $6::text, id, $5 FROM rotated WHERE $6::text IS NOT NULL
           ON CONFLICT DO NOTHING
         )
         SELECT count(*)::int AS n FROM rotated`
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const hash = (token: string) => createHash('sha256').update(token).digest('base64url')
const unauthenticated = { errors: [{ message: 'Not authenticated', extensions: { code: 'UNAUTHENTICATED' } }] }
const CONSTANT = { data: { me: { id: '00000000-0000-4000-8000-000000000000', email: 'bench@bench.example' } } }

function sealSuccessor (successor: string, previous: string, sessionId: string): string {
  const sealKey = Buffer.from(hkdfSync('sha256', previous, sessionId, 'inboxgate refresh successor v1', 32))
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealKey, iv, { authTagLength: 16 })
  const ct = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')
}

const app = Fastify({ logger: false })

app.get('/constant', async () => CONSTANT)

app.get('/me', async (request, reply) => {
  const header = request.headers.authorization
  let claims: { sub: string, sid: string }
  try {
    if (header == null || !header.startsWith('Bearer ')) throw new Error('no token')
    claims = verify(header.slice(7))
  } catch {
    return await reply.code(401).send(unauthenticated)
  }
  if (!UUID.test(claims.sid)) return await reply.code(401).send(unauthenticated)
  const { rows: [row] } = await pool.query({ ...ME, values: [claims.sid] })
  const now = Date.now()
  if (row == null || row.user_id !== claims.sub || row.deletion_requested_at != null || row.disabled_at != null ||
    row.revoked_at != null || row.expires_at.getTime() <= now || row.last_used_at.getTime() + idleMs <= now) {
    return await reply.code(401).send(unauthenticated)
  }
  return { data: { me: { id: row.user_id, email: row.email } } }
})

app.post<{ Body: { refreshToken?: string } }>('/refresh', async (request, reply) => {
  const token = request.body?.refreshToken
  if (typeof token !== 'string' || !/^igrt_[A-Za-z0-9_-]{43}$/.test(token)) return await reply.code(401).send(unauthenticated)
  const presented = hash(token)
  const { rows: [row] } = await pool.query({ ...READ_SESSION, values: [presented] })
  const now = new Date()
  if (row == null || row.current_token_hash !== presented || row.revoked_at != null || row.client_kind !== 'NATIVE' ||
    row.disabled_at != null || row.expires_at.getTime() <= now.getTime() || row.last_used_at.getTime() + idleMs <= now.getTime()) {
    return await reply.code(401).send(unauthenticated)
  }
  const successor = 'igrt_' + randomBytes(32).toString('base64url')
  const { rows: [rotated] } = await pool.query({
    ...ROTATE, values: [row.id, presented, hash(successor), sealSuccessor(successor, token, row.id), now, row.previous_token_hash]
  })
  if (rotated.n !== 1) return await reply.code(401).send(unauthenticated)
  const iat = Math.floor(now.getTime() / 1000)
  const accessToken = sign({ sub: row.user_id, email: row.email, name: row.name, sid: row.id, auth_time: Math.floor(row.auth_time.getTime() / 1000), iat })
  return { data: { refresh: { accessToken, refreshToken: successor } } }
})

app.addHook('onClose', async () => { await pool.end() })
await app.listen({ host: env.HOST ?? '127.0.0.1', port: Number(env.PORT ?? 0) })
const address = app.server.address()
process.stdout.write(`READY ${typeof address === 'object' && address != null ? address.port : 0}\n`)
const stop = () => { app.close().then(() => process.exit(0), () => process.exit(1)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
