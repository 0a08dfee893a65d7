import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The software version every node reports (R5, R6): the package's version. */
export const VERSION: string = findVersion();

function findVersion(): string {
  // Built code runs from dist/src/node, sources from src/node: walk up to our package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hapair' && typeof pkg.version === 'string') return pkg.version;
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the hapair package.json to read the version');
}
