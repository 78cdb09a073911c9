import { startAppleEmulator } from '../emulators/apple/app.ts'
import type { RunningAppleEmulator } from '../emulators/apple/app.ts'
import { startGoogleEmulator } from '../emulators/google/app.ts'
import type { RunningGoogleEmulator } from '../emulators/google/app.ts'
import { EmulatorEnvError, emulatorSettingsFromEnv } from '../emulators/google/env.ts'
import { GMAIL_READONLY } from '../emulators/google/state.ts'
import { registerRiscReceiver } from '../src/google/risc/risc-registration.ts'
import type { ServiceAccountKey } from '../src/google/risc/risc-registration.ts'
import { graphiqlUrl, loadConfigOrExit, startServer } from '../src/start-server.ts'
import type { FastifyInstance } from 'fastify'
import { startWebExample } from '../examples/web/serve.ts'
import { startMailCatcher } from '../emulators/mail/catcher.ts'
import type { RunningMailCatcher } from '../emulators/mail/catcher.ts'

/**
 * `npm run dev`: the Google emulator and the server in one process, the server configured for the emulator,
 * so the whole Gmail connection can be walked in GraphiQL without a Google account (README.md, "Dev mode").
 * The server runs exactly as under `npm start` (src/start-server.ts); only its defaults differ, and any
 * variable set in the environment still wins.
 */

/**
 * Dev mode's Gmail access tokens live 7 minutes instead of Google's hour: with the server's 5-minute refresh
 * margin (GMAIL_REFRESH_MARGIN_SECONDS) a proactive refresh is due about 2 minutes after each token is issued.
 * The emulator's control clock cannot show this: the server dates tokens on the wall clock.
 */
const DEV_ACCESS_TOKEN_TTL_SECONDS = 420

function fail (message: string): never {
  process.stderr.write(`npm run dev: ${message}\n`)
  process.exit(1)
}

async function main (): Promise<void> {
  // As in src/config.ts, `FOO=` counts as unset: it must not replace a dev default with nothing.
  const env = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ''))

  let settings
  try {
    settings = emulatorSettingsFromEnv(env, { accessTokenTtlSeconds: DEV_ACCESS_TOKEN_TTL_SECONDS })
  } catch (err) {
    if (err instanceof EmulatorEnvError) fail(err.message)
    throw err
  }
  const { web, ios, users, host, port, accessTokenTtlSeconds, logger } = settings
  const serverPort = env.PORT ?? '4000'
  const webPort = env.WEB_EXAMPLE_PORT ?? '4002'
  // Google's redirect comes back to this server's port: register it unless the redirect URIs were set explicitly.
  if (env.GOOGLE_EMULATOR_REDIRECT_URIS == null) {
    web.redirectUris = [...new Set([...web.redirectUris, `http://127.0.0.1:${serverPort}/auth/google/callback`])]
  }

  let emulator: RunningGoogleEmulator
  try {
    emulator = await startGoogleEmulator({ clients: [web, ios], users, host, port, accessTokenTtlSeconds, logger })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') fail(`port ${port} is taken: set GOOGLE_EMULATOR_PORT to another port (or 0)`)
    throw err
  }

  // Sign in with Apple against the Apple emulator (keys, authorize page, token endpoint, notifications).
  const appleNative = 'com.example.inboxgate'
  const appleWeb = 'com.example.inboxgate.web'
  let appleEmulator: RunningAppleEmulator
  try {
    appleEmulator = await startAppleEmulator({
      clients: [{ id: appleNative, redirectUris: [] }, { id: appleWeb, redirectUris: [`http://127.0.0.1:${serverPort}/auth/apple/callback`] }],
      host,
      port: Number(env.APPLE_EMULATOR_PORT ?? 4003),
      notificationUrl: `http://127.0.0.1:${serverPort}/apple/notifications`
    })
  } catch (err) {
    await emulator.close()
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') fail('the Apple emulator\'s port is taken: set APPLE_EMULATOR_PORT to another port (or 0)')
    throw err
  }
  const closeEmulators = async () => { await appleEmulator.close(); await emulator.close() }

  // Verification and password-reset mail goes to an in-process SMTP catcher (emulators/mail), never out.
  let mail: RunningMailCatcher
  try {
    mail = await startMailCatcher({ smtpPort: Number(env.MAIL_EMULATOR_SMTP_PORT ?? 4025), controlPort: Number(env.MAIL_EMULATOR_PORT ?? 4026) })
  } catch (err) {
    await closeEmulators()
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') fail('port 4025 or 4026 is taken: set MAIL_EMULATOR_SMTP_PORT / MAIL_EMULATOR_PORT to other ports (or 0)')
    throw err
  }

  const config = await loadConfigOrExit({
    SMTP_URL: mail.smtpUrl,
    // The pages of mailed links ("email confirmed") link back to the example web client.
    APP_URL: `http://127.0.0.1:${webPort}`,
    APPLE_CLIENT_IDS: `${appleNative},${appleWeb}`,
    APPLE_WEB_CLIENT_ID: appleWeb,
    APPLE_API_BASE_URL: appleEmulator.baseUrl,
    APPLE_TEAM_ID: appleEmulator.state.developer.teamId,
    APPLE_KEY_ID: appleEmulator.state.developer.keyId,
    APPLE_PRIVATE_KEY: appleEmulator.state.developerKeyPem(),
    GOOGLE_CLIENT_ID: web.id,
    GOOGLE_CLIENT_SECRET: web.secret,
    GOOGLE_IOS_CLIENT_IDS: ios.id,
    GOOGLE_API_BASE_URL: emulator.baseUrl,
    // GraphiQL's own origin (both loopback names) and the example web client's: CORS and the WEB refresh cookie
    // check them. The example is another origin of the same site (127.0.0.1), so the refresh cookie reaches the API.
    PUBLIC_ORIGINS: `http://127.0.0.1:${serverPort},http://localhost:${serverPort},http://127.0.0.1:${webPort}`,
    // Gmail push through the emulator's Pub/Sub (docs/events.md): new mail becomes signed webhooks.
    GMAIL_PUSH_TOPIC: DEV_PUSH_TOPIC,
    GMAIL_PUSH_SERVICE_ACCOUNT: DEV_PUSH_SERVICE_ACCOUNT,
    ...env
  })

  let example: Awaited<ReturnType<typeof startWebExample>>
  try {
    example = await startWebExample({ apiUrl: config.PUBLIC_URL, port: Number(webPort) })
  } catch (err) {
    await closeEmulators()
    await mail.close()
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') fail(`port ${webPort} is taken: set WEB_EXAMPLE_PORT to another port (or 0)`)
    throw err
  }

  let server
  try {
    server = await startServer(config, { nextSteps: false, onClose: async () => { await example.app.close(); await closeEmulators(); await mail.close() } })
  } catch (err) {
    await example.app.close()
    await closeEmulators()
    await mail.close()
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') fail(`port ${config.PORT} is taken: set PORT to another port`)
    throw err
  }

  const base = emulator.baseUrl
  const forgotten = config.GOOGLE_API_BASE_URL === base ? await forgetEmulatorGrants(server) : 0
  // Cross-Account Protection: the emulator pushes revocations, sign-outs and hijackings to the server, as Google
  // does once `npm run admin -- google-risc-register` ran (here with the emulator's own service account key).
  let risc = 'not registered (GOOGLE_API_BASE_URL points elsewhere)'
  if (config.GOOGLE_API_BASE_URL === base) {
    const receiverUrl = `${config.PUBLIC_URL}/google/risc`
    try {
      await registerRiscReceiver({ key: emulator.state.risc.serviceAccountKey(base) as unknown as ServiceAccountKey, receiverUrl, baseUrl: base })
      risc = `${receiverUrl} registered with the emulator (revocations arrive without a Gmail call)`
    } catch (err) {
      risc = `registration failed: ${(err as Error).message}`
    }
  }
  // The push subscription Google's Pub/Sub would have: to our endpoint, with an OIDC token for our audience.
  let push = 'off (GMAIL_PUSH_TOPIC unset)'
  if (config.GOOGLE_API_BASE_URL === base && config.GMAIL_PUSH_TOPIC != null && config.GMAIL_PUSH_SERVICE_ACCOUNT != null) {
    emulator.state.push.subscription = { endpoint: `${config.PUBLIC_URL}/google/pubsub`, audience: config.GMAIL_PUSH_AUDIENCE, serviceAccountEmail: config.GMAIL_PUSH_SERVICE_ACCOUNT }
    push = `${config.GMAIL_PUSH_TOPIC} → ${config.PUBLIC_URL}/google/pubsub (deliver mail: POST ${base}/__emulator/gmail/deliver)`
  }
  const margin = config.GMAIL_REFRESH_MARGIN_SECONDS
  const refreshAfter = accessTokenTtlSeconds - margin
  const pointsElsewhere = config.GOOGLE_API_BASE_URL !== base
    ? `\n  note: GOOGLE_API_BASE_URL=${config.GOOGLE_API_BASE_URL} is set, so the server does not use this emulator\n`
    : ''
  process.stdout.write(`
inboxgate dev mode: Gmail without a Google account

  GraphiQL         ${graphiqlUrl(server)}
  Example web app  ${example.url}   (email/password and Sign in with Google; examples/web)
  Google sign-in   ${config.PUBLIC_URL}/auth/google?redirectTo=/graphiql   (then the refresh mutation in GraphiQL)
  Google emulator  ${base}   (state: ${base}/__emulator/state)
  Google users     ${[...emulator.state.users.values()].map(u => `${u.email}${u.emailVerified ? '' : ' (unverified)'}`).join(', ')}
  Google clients   web ${web.id}, iOS ${ios.id}
  Apple sign-in    ${config.PUBLIC_URL}/auth/apple?redirectTo=/graphiql   (emulator ${appleEmulator.baseUrl}; ID tokens for signInWithApple:
                   curl -s -X POST ${appleEmulator.baseUrl}/__emulator/id-token -H 'content-type: application/json' -d '{"email":"alice@example.com"}')
  RISC receiver    ${risc}
  Mail catcher     ${config.SMTP_URL === mail.smtpUrl ? `${mail.controlUrl}/__emulator/messages   (verification and reset mail; SMTP ${mail.smtpUrl})` : `not used (SMTP_URL=${config.SMTP_URL ?? ''} is set)`}
  Gmail push       ${push}
  Gmail earlier    ${forgotten === 0 ? 'no connection from an earlier run' : `${forgotten} connection(s) from an earlier run marked RECONNECT_REQUIRED (the emulator starts empty)`}
  Gmail tokens     live ${accessTokenTtlSeconds} s (GOOGLE_EMULATOR_ACCESS_TOKEN_TTL); the server refreshes ${margin} s before expiry, ${refreshAfter > 0 ? `so ${refreshAfter} s after each refresh` : 'so on every use'}
${pointsElsewhere}
Next steps (docs/walkthrough.md):
  1. In GraphiQL: mutation { signUp(input: {email: "newcomer@example.com", password: "dev mode walkthrough", client: NATIVE}) { accessToken } }
     then add to Headers: "Authorization": "Bearer <accessToken>"
  2. Sign in to "Google" as the iOS app would:
     curl -s -X POST ${base}/__emulator/native-sign-in -H 'content-type: application/json' \\
       -d '{"client_id":"${ios.id}","user":"alice@example.com","scopes":["${GMAIL_READONLY}"]}'
  3. mutation { connectGmail(input: {accessToken: "ya29…", refreshToken: "1//0…"}) { status { state } } }
  4. { gmailProfile { emailAddress messagesTotal } }
  5. After ${refreshAfter > 0 ? `${refreshAfter} s` : 'a while'}, gmailProfile again, then on its own (the fields of one query run concurrently):
     { gmailStatus { state lastRefreshedAt accessTokenExpiresAt } }

Ctrl-C stops the server and the emulator.
`)
}

const DEV_PUSH_TOPIC = 'projects/inboxgate-dev/topics/gmail-push'
const DEV_PUSH_SERVICE_ACCOUNT = 'gmail-push@inboxgate-dev.iam.gserviceaccount.com'
/**
 * The emulator keeps its grants in memory while DATA_DIR keeps the server's Gmail connections: after a restart every
 * connection from an earlier run names a grant nobody knows, yet stayed ACTIVE until its next refresh, and held its
 * Google account against every other user (CONFLICT). Dev mode reconciles at start, as Google's invalid_grant would:
 * secret deleted, connection RECONNECT_REQUIRED (reason EMULATOR_RESTARTED), the Google account free again. Chosen
 * over persisting the emulator's state: the emulator stays a pure in-memory fake that tests start empty.
 */
async function forgetEmulatorGrants (server: FastifyInstance): Promise<number> {
  const stale = await server.prisma.gmailConnection.findMany({ where: { state: { not: 'RECONNECT_REQUIRED' } }, select: { userId: true } })
  for (const { userId } of stale) {
    await server.vault.delete(userId)
    await server.prisma.gmailConnection.update({
      where: { userId },
      data: { state: 'RECONNECT_REQUIRED', stateReason: 'EMULATOR_RESTARTED', accessTokenExpiresAt: null, refreshTokenPrefix: null, refreshTokenHash: null }
    })
  }
  return stale.length
}

main().catch((err) => {
  process.stderr.write(`npm run dev failed to start: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
