// The dashboard's two files: the page (`/`) and its script (`/dashboard.js`, dashboard.ts bundled
// for the browser with uPlot and the graphql-ws client). `npm run build` writes both to
// dist/dashboard/ (postbuild) and a server started from dist serves those. Started from the
// sources (npm start, npm test, npm run demo), the server bundles them itself the first time they
// are asked for, in memory, once per process: no build step to forget and nothing stale on disk.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export type Asset = { type: string; body: string };
export type DashboardAssets = { page: Asset; script: Asset };

const HERE = new URL('./', import.meta.url);
// From dist/src/http/dashboard/ this is dist/dashboard/; from src/http/dashboard/ it does not exist.
const PREBUILT = new URL('../../../dashboard/', import.meta.url);

let loading: Promise<DashboardAssets> | null = null;

/** The page and the bundled script: prebuilt when present, else bundled now (and kept). */
export function dashboardAssets(): Promise<DashboardAssets> {
  loading ??= (existsSync(new URL('dashboard.js', PREBUILT)) ? readPrebuilt() : bundleDashboard()).catch(
    (error: unknown) => {
      loading = null; // the next request tries again
      throw error;
    },
  );
  return loading;
}

async function readPrebuilt(): Promise<DashboardAssets> {
  const [page, script] = await Promise.all([
    readFile(new URL('index.html', PREBUILT), 'utf8'),
    readFile(new URL('dashboard.js', PREBUILT), 'utf8'),
  ]);
  return assets(page, script);
}

/** Bundles dashboard.ts with esbuild (a devDependency: only the sources need it). */
export async function bundleDashboard(): Promise<DashboardAssets> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL('dashboard.ts', HERE))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    loader: { '.css': 'text' },
    write: false,
    logLevel: 'silent',
  });
  const script = result.outputFiles[0]?.text ?? '';
  const page = await readFile(new URL('index.html', HERE), 'utf8');
  return assets(page, script);
}

/** Writes the page and the bundle to `dir` (used by `npm run build`). */
export async function writeDashboard(dir: URL): Promise<void> {
  const { page, script } = await bundleDashboard();
  await mkdir(dir, { recursive: true });
  await writeFile(new URL('index.html', dir), page.body);
  await writeFile(new URL('dashboard.js', dir), script.body);
}

function assets(page: string, script: string): DashboardAssets {
  return {
    page: { type: 'text/html; charset=utf-8', body: page },
    script: { type: 'text/javascript; charset=utf-8', body: script },
  };
}
