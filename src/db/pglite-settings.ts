/**
 * PostgreSQL's default shared_buffers (128 MB) is allocated inside PGlite's WebAssembly memory, which never shrinks:
 * most of an embedded server's RSS. PGlite's files sit in the operating system's page cache anyway, so a small
 * buffer pool costs a copy, not a disk read (BENCHMARKS.md, "Memory of the embedded database"). Given as start
 * parameters, not written into the data directory's postgresql.conf.
 */
export const PGLITE_SETTINGS = ['-c', 'shared_buffers=16MB']

/**
 * What every PGlite of ours starts with: PGlite's own start parameters (single-user mode, no parallel workers, …),
 * which `startParams` replaces rather than extends, then ours. `defaults` is `PGlite.defaultStartParams`, passed in
 * so that this module does not load PGlite on the PostgreSQL path.
 */
export function pgliteStartParams (defaults: readonly string[]): string[] {
  return [...defaults, ...PGLITE_SETTINGS]
}
