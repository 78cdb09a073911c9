import closeWithGrace from 'close-with-grace'
import { startGoogleEmulator } from './app.ts'
import { EmulatorEnvError, emulatorSettingsFromEnv } from './env.ts'

// The emulator alone: `npx tsx emulators/google/main.ts`, then point a server's Google settings at it.
// `npm run dev` (scripts/dev.ts) runs it in-process together with the server instead.

let settings
try {
  settings = emulatorSettingsFromEnv(process.env)
} catch (err) {
  if (!(err instanceof EmulatorEnvError)) throw err
  process.stderr.write(`${err.message}\n`)
  process.exit(1)
}
const { web, ios, users, host, port, accessTokenTtlSeconds, logger } = settings

const emulator = await startGoogleEmulator({ clients: [web, ios], users, host, port, accessTokenTtlSeconds, logger })

closeWithGrace({ delay: 5_000 }, async () => {
  await emulator.close()
})

const base = emulator.baseUrl
process.stdout.write(`Google OAuth + Gmail emulator listening on ${base}

Web client     ${web.id}
  secret       ${web.secret}
  redirects    ${web.redirectUris.join(' ')}
iOS client     ${ios.id} (public, no secret)
Users          ${[...emulator.state.users.values()].map(u => `${u.email}${u.emailVerified ? '' : ' (unverified)'}`).join(', ')}
Access tokens  live ${accessTokenTtlSeconds} s

Point the server at it (google-auth-library OAuth2Client endpoints, googleapis rootUrl):
  auth         ${base}/o/oauth2/v2/auth
  token        ${base}/token
  tokeninfo    ${base}/tokeninfo
  revoke       ${base}/revoke
  certs        ${base}/oauth2/v1/certs (PEM)  ${base}/oauth2/v3/certs (JWK)
  rootUrl      ${base}/   (gmail v1, oauth2 v2)
  ID token iss https://accounts.google.com

Control API: ${base}/__emulator/state  (see emulators/google/README.md)
`)
