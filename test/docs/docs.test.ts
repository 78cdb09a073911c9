import { existsSync } from 'node:fs'
import path from 'node:path'
import { test } from 'tap'
import { ADMIN_USAGE, adminCommandNames, checkAdminArguments } from '../../src/admin/usage.ts'
import { ErrorCodes, Reasons } from '../../src/errors.ts'
import { adminArguments, DOCS, isPlaceholder, read, ROOT, shellCommands, shellWords } from './shell-blocks.ts'

// Issue 20, item 8: the docs cannot drift from the code. Every error code and reason is documented; every
// `npm run X` a document names is a script; every admin command line takes the arguments and flags it shows; every
// `npm run migrate --` command, `node`/`tsx` file and local link exists; every variable src/config.ts reads is in
// docs/configuration.md. What runs: the walkthrough by test/dev/dev-mode.test.ts, the docs' admin command lines by
// test/docs/admin-commands.test.ts, the production ones by scripts/production-install.sh in CI.

test('the errors table and reasons in docs/api.md match src/errors.ts', async (t) => {
  const api = read('docs/api.md')
  const table = api.slice(api.indexOf('**Errors.**'))
  for (const code of Object.values(ErrorCodes)) t.match(table, new RegExp(`^\\| [^|]*\`${code}\``, 'm'), `${code} has a row`)
  for (const reason of Object.values(Reasons)) t.match(table, `\`${reason}\``, `reason ${reason} is named`)
})

test('every npm script and admin command the docs name exists', async (t) => {
  const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts)
  const admin = adminCommandNames()
  for (const file of DOCS) {
    const text = read(file)
    for (const [, name] of text.matchAll(/npm run (?:--silent )?([a-z][a-z0-9:-]*)/g)) t.ok(scripts.includes(name!), `${file}: npm run ${name}`)
    for (const [, command] of text.matchAll(/npm run (?:--silent )?admin -- ([a-z][a-z-]*)/g)) t.ok(admin.includes(command!), `${file}: admin ${command}`)
  }
})

test('every local link in the docs resolves', async (t) => {
  for (const file of DOCS) {
    for (const [, target] of read(file).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue
      t.ok(existsSync(path.resolve(ROOT, path.dirname(file), target!)), `${file} → ${target}`)
    }
  }
})

test('the README stays short: what it is, two commands, dev mode in five steps, where next', async (t) => {
  const readme = read('README.md')
  t.ok(readme.split('\n').length <= 60, 'a few screens at most')
  t.match(readme, 'npm install && npm start')
  t.match(readme, 'npm test')
  t.match(readme, /## Dev mode in five steps\n\n1\.[\s\S]*\n5\. /)
  t.match(readme, 'docs/README.md')
})

test('docs/configuration.md lists every environment variable src/config.ts reads', async (t) => {
  // The keys of the environment schema (one per line, two-space indent, between `const envSchema = z.object({` and
  // its closing `})`): what a helper adds to src/config.ts is caught here until it is documented.
  const source = read('src/config.ts')
  const start = source.indexOf('const envSchema = z.object({')
  const end = source.indexOf('\n})', start)
  t.ok(start >= 0 && end > start, 'the schema is found')
  const names = [...source.slice(start, end).matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!)
  t.ok(names.length > 50, `${names.length} variables found`)
  const doc = read('docs/configuration.md')
  for (const name of names) t.ok(doc.includes(`\`${name}\``), `${name} is in docs/configuration.md`)
})

/** The lines of ADMIN_USAGE that describe `command` (its first line and the indented ones under it). */
function usageOf (command: string): string {
  const lines = ADMIN_USAGE.split('\n')
  const at = lines.findIndex((l) => l.startsWith(`  ${command} `) || l === `  ${command}`)
  const end = lines.findIndex((l, i) => i > at && /^ {2}[a-z]/.test(l))
  return lines.slice(at, end < 0 ? undefined : end).join('\n')
}

test('every fenced shell command in the docs is one that exists: scripts, admin commands and flags, migrate, files', async (t) => {
  const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts)
  const migrateUsage = read('prisma/migrate.ts')
  let admin = 0
  for (const file of DOCS) {
    // Fenced blocks, and the inline `npm run admin -- …` spans of the prose.
    const inline = [...read(file).matchAll(/`(npm run admin -- [^`]+)`/g)].map((m) => ({ line: 0, words: shellWords(m[1]!) }))
    for (const { line, words } of [...shellCommands(file), ...inline]) {
      const where = `${file}:${line}: ${words.join(' ')}`
      words.forEach((w, i) => {
        if (w === 'npm' && words[i + 1] === 'run') {
          const name = words[i + 2] === '--silent' ? words[i + 3] : words[i + 2]
          t.ok(scripts.includes(name!), `${where}: npm run ${name} is a script`)
        }
        if ((w === 'node' || w === 'tsx') && words[i + 1] != null && /\.(m?js|ts)$/.test(words[i + 1]!)) {
          // dist/… is the build of the TypeScript source beside it.
          const file = words[i + 1]!.replace(/^dist\/(.*)\.js$/, '$1.ts')
          t.ok(existsSync(path.join(ROOT, file)), `${where}: ${words[i + 1]} exists (${file})`)
        }
      })
      const migrate = words.findIndex((w, i) => w === 'migrate' && words[i - 1] === 'run')
      if (migrate >= 0 && words[migrate + 1] === '--') {
        t.match(migrateUsage, new RegExp(`^ {2}${words[migrate + 2]} `, 'm'), `${where}: a migrate command`)
      }
      const args = adminArguments(words)
      if (args == null || args.length === 0 || isPlaceholder(args[0]!)) continue
      admin++
      // A value the reader fills in stands in as an address (the only placeholder the check looks into).
      const filled = args.map((a) => isPlaceholder(a) ? 'someone@example.com' : a)
      // Prose may name a command without its arguments (`npm run admin -- delete-user`); a command line may not.
      if (line > 0 || args.length > 1) t.doesNotThrow(() => checkAdminArguments(filled), `${where}: the admin command takes these arguments`)
      else t.ok(adminCommandNames().includes(args[0]!), `${where}: an admin command`)
      const usage = usageOf(args[0]!)
      for (const flag of args.filter((a) => a.startsWith('--'))) t.ok(usage.includes(flag), `${where}: ${flag} is an option of ${args[0]}`)
    }
  }
  t.ok(admin >= 20, `${admin} admin command lines checked`)
})

test('the command reader joins continuations, drops comments and environment assignments', async (t) => {
  t.same(shellWords('a "b c" \'d e\' f'), ['a', 'b c', 'd e', 'f'])
  const commands = shellCommands('docs/production.md').map((c) => c.words.join(' '))
  t.ok(commands.includes('npm run migrate -- deploy'), 'the comment after the command is dropped')
  t.ok(commands.includes('npm run admin -- google-risc-register https://api.example.com/google/risc'), 'the environment assignment is dropped')
})
