import { spawnSync } from 'node:child_process'
import { test } from 'tap'

// Issue 20, item 6: the admin command as an operator types it (a process, its stdout, stderr and exit code).

test('npm run admin: JSON on stdout; usage, unknown commands, bad arguments and bad emails as one line on stderr', async (t) => {
  const dir = t.testdir({})
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir, JWT_SECRET: 'k'.repeat(43), LOG_LEVEL: 'warn' }
  delete env.DATABASE_URL
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/admin/cli.ts', ...args], { env, encoding: 'utf8', timeout: 240_000 })
  const missing = run('show-user', 'nobody@example.com')
  t.equal(missing.status, 1)
  t.equal(missing.stdout, '')
  t.equal(missing.stderr, 'admin: no user with email nobody@example.com\n')
  const badEmail = run('disable-user', 'not an email')
  t.equal(badEmail.status, 1)
  t.equal(badEmail.stderr, 'admin: "not an email" is not an email address\n', 'one line, no stack trace')

  const help = run('help')
  t.equal(help.status, 0)
  t.match(help.stdout, /^Usage: npm run admin -- <command>/)
  t.notMatch(help.stdout, /^"/, 'human text, not a JSON string')
  t.equal(run().status, 1, 'usage without a command')
  for (const [args, message] of [
    [['frob'], 'admin: unknown command "frob"'],
    [['create-service-client', 'Nightly', '--wrker'], 'admin: create-service-client: unknown option --wrker'],
    [['show-user', 'a@example.com', 'b@example.com'], 'admin: show-user: unexpected argument "b@example.com"'],
    [['disable-user'], 'admin: disable-user: <email> is required'],
    [['list-service-clients', 'extra'], 'admin: list-service-clients: unexpected argument "extra"']
  ] as const) {
    const refused = run(...args)
    t.equal(refused.status, 1, args.join(' '))
    t.equal(refused.stdout, '')
    t.match(refused.stderr, message)
    t.match(refused.stderr, 'Usage: npm run admin')
  }
})
