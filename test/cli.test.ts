// Every command under src/cli/ (the npm scripts) answers --help: exit 0, what it does and its
// options on stdout, and nothing else done (no database opened, no file written).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const commands = readdirSync(join(root, 'src/cli')).filter((file) => file !== 'help.ts');

describe('command-line help', () => {
  it('every npm script that runs a command under src/cli/ has one', () => {
    const scripts = Object.values(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as object);
    for (const file of commands) {
      expect(
        scripts.some((script) => String(script).includes(`src/cli/${file}`)),
        file,
      ).toBe(true);
    }
  });

  it.each(commands)('%s --help exits 0 and says what it does and its options', async (file) => {
    const dataDir = join(tmpdir(), `shopstream-help-${process.pid}-${file}`);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', `src/cli/${file}`, '--help'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir },
      timeout: 60_000,
    });
    expect(stdout).toMatch(/usage:/i);
    expect(stdout).toMatch(/--help/);
    expect(stdout.split('\n').length).toBeGreaterThan(4);
    expect(existsSync(dataDir), 'the embedded database was opened').toBe(false);
  });
});
