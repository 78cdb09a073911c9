import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The directory holding package.json, schema/ and prisma/, found from src/ (tsx) and dist/src/ (compiled) alike. */
function findRepoRoot (from: string): string {
  let dir = from
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`package.json not found above ${from}`)
    dir = parent
  }
  return dir
}

export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)))
