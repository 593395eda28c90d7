// A temporary folder of a test's own (state, a SQLite file, a process's working directory).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  dir: string;
  /** Removes the folder and everything in it (a function of its own: `after(dir.remove)`). */
  readonly remove: () => void;
}

export function tempDir(label = 'test'): TempDir {
  const dir = mkdtempSync(join(tmpdir(), `membercard-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
