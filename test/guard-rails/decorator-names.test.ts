import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'tap'
import { repoRoot } from '../../src/paths.ts'

// docs/guard-rails.md, "Names": a decorator is named like the class it holds (`app.gmailConnections` is a
// GmailConnections, `app.googleGateway` a GoogleGateway), so `grep -rn 'class GoogleGateway'` and `app.googleGateway`
// lead to each other in one hop. The few that hold no class of ours of that name are listed with their reason.
const NOT_A_CLASS: Record<string, string> = {
  config: 'the parsed environment (src/config.ts), a plain object',
  clock: 'an interface with a system and a test implementation',
  backgroundJobs: 'a boolean switch',
  prisma: "the library's client, under the name every Prisma codebase gives it",
  database: 'which database kind is in use, its notifications and this process\'s own writes: a plain object',
  vault: 'an interface with three implementations (Secrets Manager, KMS envelope, local)'
}

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(p)
    return p.endsWith('.ts') ? [p] : []
  })
}

test('every FastifyInstance decorator is named like its class', async (t) => {
  const decorators: Array<{ name: string, type: string, file: string }> = []
  const decorated: Array<{ name: string, file: string }> = []
  for (const file of sourceFiles(path.join(repoRoot, 'src'))) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/\.decorate\('(\w+)'/g)) decorated.push({ name: m[1]!, file: path.relative(repoRoot, file) })
    for (const block of text.matchAll(/interface FastifyInstance \{([^}]*)\}/g)) {
      for (const m of block[1]!.matchAll(/^\s*(\w+)\??:\s*([\w{][^\n]*)$/gm)) {
        decorators.push({ name: m[1]!, type: m[2]!.trim(), file: path.relative(repoRoot, file) })
      }
    }
  }
  t.ok(decorators.length >= 30, `found the decorators (${decorators.length})`)
  for (const { name, type, file } of decorators) {
    if (name in NOT_A_CLASS) continue
    const cls = type.replace(/\s*\|\s*(?:null|undefined)$/, '').replace(/<.*>$/, '')
    t.equal(name, cls.charAt(0).toLowerCase() + cls.slice(1), `${file}: app.${name} holds a ${type}`)
  }
  const declared = new Set(decorators.map((d) => d.name))
  // Fastify's decorate() takes any string: a decorator set under a name the type does not declare compiles, and
  // every `app.<declared name>` is undefined at run time.
  t.ok(decorated.length >= 30, `found the decorate() calls (${decorated.length})`)
  for (const { name, file } of decorated) t.ok(declared.has(name), `${file}: decorate('${name}') is declared on FastifyInstance`)
  for (const name of Object.keys(NOT_A_CLASS)) t.ok(declared.has(name), `the exception ${name} is still a decorator`)
})
