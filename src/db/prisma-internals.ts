import type { SqlDriverAdapter } from '@prisma/driver-adapter-utils'

/*
 * Every use of a private part of Prisma's packages, in one file, each pinned by test/guard-rails/library-internals.test.ts
 * (which names the package and version when an upgrade removes one). Nothing else in src/ reaches into them.
 */

type Glue = typeof import('@prisma/schema-engine-wasm/schema_engine_bg')

/**
 * @prisma/schema-engine-wasm 7.10: its wasm-bindgen glue is meant for bundlers, which wire the module's exports into
 * it; run from Node, we do it: hand the instance's exports to the glue, then run its start function.
 */
export function startSchemaEngineGlue (glue: Glue, exports: Record<string, unknown>): void {
  glue.__wbg_set_wasm(exports)
  ;(exports.__wbindgen_start as () => void)()
}

interface AdapterInternals {
  /** The adapter's own translation of a driver error into Prisma's DriverAdapterError (it always throws). */
  onError: (error: unknown) => never
  /** @prisma/adapter-pg only: the pg Pool behind the adapter. */
  underlyingDriver?: () => { query: (sql: string) => Promise<unknown> }
}

/**
 * The adapter's private `onError` (@prisma/adapter-pg 7.10, pglite-prisma-adapter 0.7.2), bound: how a replaced
 * `executeScript` throws the same errors the adapter's own methods do.
 */
export function adapterErrorTranslator (adapter: SqlDriverAdapter): (error: unknown) => never {
  const { onError } = adapter as unknown as AdapterInternals
  return (error) => onError.call(adapter, error)
}

/** @prisma/adapter-pg 7.10: runs one whole script on the adapter's pool (its `underlyingDriver()`). */
export async function queryPgDriver (adapter: SqlDriverAdapter, script: string): Promise<unknown> {
  return await (adapter as unknown as AdapterInternals).underlyingDriver!().query(script)
}
