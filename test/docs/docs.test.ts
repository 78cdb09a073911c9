import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { adminCommandNames } from '../../src/admin/usage.ts'
import { ErrorCodes, Reasons } from '../../src/errors.ts'

// Issue 20, item 8: the docs cannot drift from the code. Every error code and reason is documented; every
// `npm run X` a document names is a script; every admin command named exists; every local link resolves. The
// walkthrough's commands themselves are run by test/dev/dev-mode.test.ts, the production ones by
// scripts/production-install.sh in CI.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8')

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
