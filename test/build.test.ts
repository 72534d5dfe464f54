// `npm run build` compiles the service only: tests and benchmarks stay out of dist/.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('npm run build', () => {
  it('uses src/tsconfig.build.json, which holds src/ and nothing else', () => {
    const scripts = JSON.parse(readFileSync(`${root}package.json`, 'utf8')).scripts as Record<string, string>;
    expect(scripts.build).toContain('tsc -p src/tsconfig.build.json');
    const parsed = ts.getParsedCommandLineOfConfigFile(`${root}src/tsconfig.build.json`, undefined, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    });
    const files = parsed?.fileNames ?? [];
    expect(files).toContain(`${root}src/main.ts`);
    expect(files.filter((file) => !file.startsWith(`${root}src/`))).toEqual([]);
    expect(parsed?.options.outDir).toBe(`${root}dist`);
  });
});
