// Headless Chromium for the browser tests (Debian's package, driven by playwright-core). Without
// it a browser test reports itself skipped, naming the package, so `npm install && npm test` passes
// on any machine; with CI set (.ci/run sets it), it fails instead, so CI never skips it silently.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
export const NO_CHROMIUM = `no Chromium at ${CHROMIUM}: install Debian's package with apt-get install chromium (or set CHROMIUM_PATH)`;
const IN_CI = Boolean(process.env.CI) && !/^(0|false)$/i.test(process.env.CI ?? '');

/** True when the file's browser tests can run; throws in CI without Chromium; warns once otherwise. */
export function browserAvailable(file: string): boolean {
  if (HAS_CHROMIUM) return true;
  if (IN_CI) throw new Error(`${NO_CHROMIUM}; CI is set, so the browser test fails instead of skipping`);
  // The default reporter lists a passing file's skips without their note: say why once.
  console.warn(`${file} skipped: ${NO_CHROMIUM}`);
  return false;
}

export type Browser = { context: BrowserContext; close(): Promise<void> };

/**
 * A fresh headless Chromium (its own profile). With `offline`, host names resolve to nothing
 * except 127.0.0.1: the page behaves as on a machine with no network.
 */
export async function launchBrowser(options: { offline?: boolean } = {}): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'shopstream-chromium-'));
  // A persistent context is how playwright takes a fresh --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(options.offline ? ['--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'] : []),
    ],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
