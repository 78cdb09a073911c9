import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { PrismaPg } from '@prisma/adapter-pg'
import type { SqlDriverAdapter } from '@prisma/driver-adapter-utils'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { test } from 'tap'

// docs/guard-rails.md, "Library internals": every private part of a library that src/ uses sits in one adapter file
// (src/db/prisma-internals.ts); this test fails, naming the package and its installed version, when an upgrade
// removes one, instead of migrations failing in production with "x is not a function".

const require = createRequire(import.meta.url)
// The ES2023 lib without DOM does not declare the WebAssembly global.
declare const WebAssembly: {
  compile: (bytes: Uint8Array) => Promise<object>
  Module: { exports: (module: object) => Array<{ name: string, kind: string }> }
}
function installed (pkg: string): string {
  let dir = path.dirname(require.resolve(pkg))
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string, version: string }
      if (manifest.name === pkg) return `${pkg}@${manifest.version}`
    } catch {}
    const up = path.dirname(dir)
    if (up === dir) throw new Error(`no package.json for ${pkg}`)
    dir = up
  }
}
const gone = (pkg: string, what: string, where: string) =>
  `${installed(pkg)} no longer has ${what}, which ${where} relies on: adapt that file to the new version`

test('@prisma/schema-engine-wasm: the wasm-bindgen glue exports __wbg_set_wasm and the module __wbindgen_start', async (t) => {
  const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')
  const glue = await import(pathToFileURL(gluePath).href) as Record<string, unknown>
  t.equal(typeof glue.__wbg_set_wasm, 'function', gone('@prisma/schema-engine-wasm', '__wbg_set_wasm in schema_engine_bg.js', 'startSchemaEngineGlue (src/db/prisma-internals.ts)'))
  const module = await WebAssembly.compile(readFileSync(path.join(path.dirname(gluePath), 'schema_engine_bg.wasm')))
  t.ok(WebAssembly.Module.exports(module).some((e) => e.name === '__wbindgen_start' && e.kind === 'function'),
    gone('@prisma/schema-engine-wasm', 'the wasm export __wbindgen_start', 'startSchemaEngineGlue (src/db/prisma-internals.ts)'))
})

test('pglite-prisma-adapter: adapters have the private onError', async (t) => {
  // connect() only wraps the client: nothing is queried, so no database is needed.
  const adapter = await new PrismaPGlite({} as never).connect() as SqlDriverAdapter & { onError?: unknown }
  t.equal(typeof adapter.onError, 'function', gone('pglite-prisma-adapter', 'the adapter method onError', 'adapterErrorTranslator (src/db/prisma-internals.ts)'))
})

test('@prisma/adapter-pg: adapters have the private onError and underlyingDriver()', async (t) => {
  // The pool connects lazily: nothing listens on port 1 and nothing is queried.
  const adapter = await new PrismaPg({ connectionString: 'postgresql://nobody@127.0.0.1:1/none' }).connect() as unknown as SqlDriverAdapter & { onError?: unknown, underlyingDriver?: unknown }
  t.teardown(async () => { await adapter.dispose() })
  t.equal(typeof adapter.onError, 'function', gone('@prisma/adapter-pg', 'the adapter method onError', 'adapterErrorTranslator (src/db/prisma-internals.ts)'))
  t.equal(typeof adapter.underlyingDriver, 'function', gone('@prisma/adapter-pg', 'the adapter method underlyingDriver', 'queryPgDriver (src/db/prisma-internals.ts)'))
  const driver = (adapter as { underlyingDriver: () => { query?: unknown } }).underlyingDriver()
  t.equal(typeof driver.query, 'function', gone('@prisma/adapter-pg', 'a pg Pool behind underlyingDriver()', 'queryPgDriver'))
})
