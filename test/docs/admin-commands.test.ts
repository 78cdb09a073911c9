import { test } from 'tap'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { buildTestApp } from '../helper.ts'
import { adminArguments, DOCS, isPlaceholder, shellCommands } from './shell-blocks.ts'

// Issue 20: every command in the docs is run by a test or by CI. The admin command lines of the docs' shell blocks
// run here, in order, against the real app on a real database (PGlite, or PostgreSQL in CI), through the same
// function `npm run admin` calls; the placeholders are filled with what the earlier lines printed.

/** Lines that cannot run here, each with its reason; a new line that cannot run must be added here knowingly. */
const NOT_RUN: Record<string, string> = {
  'google-risc-register': 'calls Google with a service account key (test/google/risc covers it against the emulator)',
  'webhook-replay': 'needs a delivery: test/webhooks covers replay'
}

// Creating comes first (the other lines name what it printed), deleting last.
const rank = (command: string) => command.startsWith('create-') ? (command === 'create-service-client' ? 0 : 1) : command.startsWith('delete-') ? 3 : 2

test('the admin commands in the docs run', async (t) => {
  const { app } = await buildTestApp(t, { env: { WEBHOOK_DELIVERY_ENABLED: 'false' } })
  const lines = DOCS.flatMap((file) => shellCommands(file).map((c) => ({ ...c, args: adminArguments(c.words) ?? [] })))
    .filter((c) => c.args.length > 0 && !isPlaceholder(c.args[0]!))
    .sort((a, b) => rank(a.args[0]!) - rank(b.args[0]!))
  t.ok(lines.length >= 9, `${lines.length} admin command lines`)
  const values: Record<string, string> = {}
  const skipped = new Set<string>()
  for (const { file, line, args } of lines) {
    const where = `${file}:${line}: ${args.join(' ')}`
    if (NOT_RUN[args[0]!] != null) {
      skipped.add(args[0]!)
      continue
    }
    const filled = args.map((a) => {
      if (!isPlaceholder(a)) return a
      const value = values[a]
      if (value == null) throw new Error(`${where}: nothing earlier printed ${a}`)
      return value
    })
    const result = await runAdminCommand(app, filled).then((r) => r as Record<string, unknown>, (err: Error) => {
      t.fail(`${where}: ${err.message}`)
      return null
    })
    if (result == null) continue
    t.pass(where)
    if (args[0] === 'create-service-client') values['<clientId>'] = String(result.clientId)
    if (args[0] === 'create-webhook') values['<id>'] = String(result.id)
  }
  t.same([...skipped].sort(), Object.keys(NOT_RUN).sort(), 'only the lines known not to run here were skipped')
})
