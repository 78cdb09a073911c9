import { copyFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = path.dirname(fileURLToPath(import.meta.url))
export const distDir = path.join(here, 'dist')

/** Bundles the example web client into examples/web/dist (app.js + index.html). `npm run build:web`. */
export async function buildWebExample (): Promise<string> {
  await mkdir(distDir, { recursive: true })
  await build({
    entryPoints: [path.join(here, 'src/main.ts')],
    outfile: path.join(distDir, 'app.js'),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning'
  })
  await copyFile(path.join(here, 'index.html'), path.join(distDir, 'index.html'))
  return distDir
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = await buildWebExample()
  process.stdout.write(`built ${path.relative(process.cwd(), dir)}/{index.html,app.js}\n`)
}
