import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'

// Issue 25, item 5: the layout section of docs/development.md names every folder of src/ (and of src/auth/ and
// emulators/), so a newcomer finds "where does X live" in one hop and a new folder cannot go unexplained.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const doc = readFileSync(path.join(ROOT, 'docs/development.md'), 'utf8')
const layout = doc.slice(doc.indexOf('## Layout'), doc.indexOf('## Dependencies'))
const folders = (dir: string) => readdirSync(path.join(ROOT, dir), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)

test('docs/development.md\'s layout names every folder of src/, src/auth/, src/google/ and emulators/', async (t) => {
  t.ok(layout.length > 100, 'the layout section is there')
  for (const name of folders('src')) t.match(layout, new RegExp(`^ {2}${name}/`, 'm'), `src/${name}/`)
  for (const name of folders('src/auth')) t.match(layout, `auth/${name}/`, `src/auth/${name}/`)
  for (const name of folders('src/google')) t.match(layout, `google/${name}/`, `src/google/${name}/`)
  for (const name of folders('emulators')) t.match(layout, `emulators/${name}/`, `emulators/${name}/`)
})
