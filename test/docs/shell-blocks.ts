import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// The shell commands the docs show, read the way a newcomer copies them: fenced ```sh blocks (and ```bash, ```shell,
// ```console), continuation lines joined, comments dropped, split at ;, && and ||. Shared by test/docs/docs.test.ts
// (checks every command against package.json, the admin usage and the files) and test/docs/admin-commands.test.ts
// (runs the admin commands).

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
export const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8')

export interface DocCommand { file: string, line: number, words: string[] }

/** Splits one command line into words, honouring '…' and "…" quotes (no expansion). */
export function shellWords (text: string): string[] {
  const words: string[] = []
  let word: string | null = null
  let quote: string | null = null
  for (const ch of text) {
    if (quote != null) {
      if (ch === quote) quote = null
      else word += ch
    } else if (ch === '\'' || ch === '"') {
      quote = ch
      word ??= ''
    } else if (/\s/.test(ch)) {
      if (word != null) words.push(word)
      word = null
    } else {
      word = (word ?? '') + ch
    }
  }
  if (word != null) words.push(word)
  return words
}

/** Drops a `# comment` that is not inside quotes. */
function stripComment (line: string): string {
  let quote: string | null = null
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quote != null) { if (ch === quote) quote = null } else if (ch === '\'' || ch === '"') quote = ch
    else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i)
  }
  return line
}

/** Every command of every fenced shell block in `file`. */
export function shellCommands (file: string): DocCommand[] {
  const commands: DocCommand[] = []
  const lines = read(file).split('\n')
  let inBlock = false
  let shell = false
  let pending = ''
  let start = 0
  lines.forEach((raw, i) => {
    const fence = /^\s*```(\w*)/.exec(raw)
    if (fence != null) {
      if (!inBlock) shell = ['sh', 'bash', 'shell', 'console'].includes(fence[1]!)
      inBlock = !inBlock
      return
    }
    if (!inBlock || !shell) return
    if (pending === '') start = i + 1
    const line = stripComment(raw.replace(/^\s*\$ /, ''))
    if (line.trimEnd().endsWith('\\')) {
      pending += line.trimEnd().slice(0, -1) + ' '
      return
    }
    const full = pending + line
    pending = ''
    for (const part of full.split(/\s*(?:&&|\|\||;)\s*/)) {
      const words = shellWords(part)
      // Leading VAR=value assignments belong to the command's environment.
      while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) words.shift()
      if (words.length > 0) commands.push({ file, line: start, words })
    }
  })
  return commands
}

/** The arguments after `npm run admin --`, or null when the command is not one. */
export function adminArguments (words: string[]): string[] | null {
  const at = words.findIndex((w, i) => w === 'npm' && words[i + 1] === 'run' && words[i + 2] === 'admin')
  if (at < 0) return null
  const rest = words.slice(at + 3)
  return rest[0] === '--' ? rest.slice(1).filter((w) => w !== '|' && !w.startsWith('>')) : []
}

/** `<email>`, `$USER_ID`, `igc_…`: a value the reader fills in. */
export const isPlaceholder = (word: string) => /^<.*>$/.test(word) || word.includes('$') || word.includes('…')
