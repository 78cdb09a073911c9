import closeWithGrace from 'close-with-grace'
import { startAppleEmulator } from './app.ts'

// The Apple emulator alone: `npx tsx emulators/apple/main.ts`. `npm run dev` runs it in-process with the server.
const env = process.env
const clientIds = (env.APPLE_EMULATOR_CLIENT_IDS ?? 'com.example.inboxgate,com.example.inboxgate.web').split(',').map((s) => s.trim()).filter(Boolean)
const redirectUris = (env.APPLE_EMULATOR_REDIRECT_URIS ?? 'http://127.0.0.1:4000/auth/apple/callback').split(',').map((s) => s.trim()).filter(Boolean)
const emulator = await startAppleEmulator({
  clients: clientIds.map((id) => ({ id, redirectUris })),
  host: env.APPLE_EMULATOR_HOST ?? '127.0.0.1',
  port: Number(env.APPLE_EMULATOR_PORT ?? 4003),
  notificationUrl: env.APPLE_EMULATOR_NOTIFICATION_URL ?? 'http://127.0.0.1:4000/apple/notifications'
})
closeWithGrace({ delay: 5_000 }, async () => { await emulator.close() })
const { teamId, keyId } = emulator.state.developer
process.stdout.write(`Apple emulator listening on ${emulator.baseUrl}
Clients        ${clientIds.join(', ')} (redirects ${redirectUris.join(' ')})
Server env     APPLE_API_BASE_URL=${emulator.baseUrl} APPLE_CLIENT_IDS=${clientIds.join(',')} APPLE_TEAM_ID=${teamId} APPLE_KEY_ID=${keyId}
               APPLE_PRIVATE_KEY='${emulator.state.developerKeyPem().trim().replace(/\n/g, '\\n')}'
Control        ${emulator.baseUrl}/__emulator/state (see emulators/apple/README.md)
`)
