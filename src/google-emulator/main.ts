import closeWithGrace from 'close-with-grace'
import { startGoogleEmulator } from './app.ts'
import { DEFAULT_IOS_CLIENT, DEFAULT_USERS, DEFAULT_WEB_CLIENT } from './seeds.ts'
import type { ClientInput, UserInput } from './state.ts'

// Dev mode: `npx tsx src/google-emulator/main.ts`, then point the server's Google settings at it.

const env = process.env
const list = (value: string | undefined) => value?.split(',').map(s => s.trim()).filter(Boolean)

const web: ClientInput = {
  ...DEFAULT_WEB_CLIENT,
  id: env.GOOGLE_EMULATOR_CLIENT_ID ?? DEFAULT_WEB_CLIENT.id,
  secret: env.GOOGLE_EMULATOR_CLIENT_SECRET ?? DEFAULT_WEB_CLIENT.secret,
  redirectUris: list(env.GOOGLE_EMULATOR_REDIRECT_URIS) ?? DEFAULT_WEB_CLIENT.redirectUris,
  testing: env.GOOGLE_EMULATOR_TESTING === 'true'
}
const iosId = env.GOOGLE_EMULATOR_IOS_CLIENT_ID ?? DEFAULT_IOS_CLIENT.id
const ios: ClientInput = {
  ...DEFAULT_IOS_CLIENT,
  id: iosId,
  // iOS redirect URIs are the reversed client id.
  redirectUris: [`com.googleusercontent.apps.${iosId.replace(/\.apps\.googleusercontent\.com$/, '')}:/oauth2redirect`]
}
const users: UserInput[] = [...DEFAULT_USERS, ...(list(env.GOOGLE_EMULATOR_USERS) ?? []).map(email => ({ email }))]

const port = Number(env.GOOGLE_EMULATOR_PORT ?? 4001)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`GOOGLE_EMULATOR_PORT must be a port number, got ${env.GOOGLE_EMULATOR_PORT}\n`)
  process.exit(1)
}

const emulator = await startGoogleEmulator({
  clients: [web, ios],
  users,
  host: env.GOOGLE_EMULATOR_HOST ?? '127.0.0.1',
  port,
  logger: env.GOOGLE_EMULATOR_LOG_LEVEL ? { level: env.GOOGLE_EMULATOR_LOG_LEVEL } : false
})

closeWithGrace({ delay: 5_000 }, async () => {
  await emulator.close()
})

const base = emulator.baseUrl
process.stdout.write(`Google OAuth + Gmail emulator listening on ${base}

Web client     ${web.id}
  secret       ${web.secret}
  redirects    ${web.redirectUris?.join(' ')}
iOS client     ${ios.id} (public, no secret)
Users          ${[...emulator.state.users.values()].map(u => `${u.email}${u.emailVerified ? '' : ' (unverified)'}`).join(', ')}

Point the server at it (google-auth-library OAuth2Client endpoints, googleapis rootUrl):
  auth         ${base}/o/oauth2/v2/auth
  token        ${base}/token
  tokeninfo    ${base}/tokeninfo
  revoke       ${base}/revoke
  certs        ${base}/oauth2/v1/certs (PEM)  ${base}/oauth2/v3/certs (JWK)
  rootUrl      ${base}/   (gmail v1, oauth2 v2)
  ID token iss https://accounts.google.com

Control API: ${base}/__emulator/state  (see src/google-emulator/README.md)
`)
