import closeWithGrace from 'close-with-grace'
import { startMailCatcher } from './catcher.ts'

// The catcher alone: `npx tsx emulators/mail/main.ts`, then SMTP_URL=smtp://127.0.0.1:4025 for the server.
// `npm run dev` (scripts/dev.ts) runs it in-process together with the server instead.
const port = (name: string, dflt: number) => Number(process.env[name] ?? dflt)
const catcher = await startMailCatcher({
  host: process.env.MAIL_EMULATOR_HOST ?? '127.0.0.1',
  smtpPort: port('MAIL_EMULATOR_SMTP_PORT', 4025),
  controlPort: port('MAIL_EMULATOR_PORT', 4026)
})
closeWithGrace({ delay: 5_000 }, async () => { await catcher.close() })
process.stdout.write(`Mail catcher: SMTP ${catcher.smtpUrl}, received mail at ${catcher.controlUrl}/__emulator/messages\n`)
