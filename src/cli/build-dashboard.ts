// `npm run build` (postbuild): bundles the dashboard into dist/dashboard/, where a server started
// from dist (npm run start:dist) finds it. Started from the sources, the server bundles it itself.
import { writeDashboard } from '../http/dashboard/assets.js';
import { printHelpIfAsked } from './help.js';

printHelpIfAsked(`
Usage: npm run postbuild (run by npm run build)

Bundles the live dashboard (src/http/dashboard/) into dist/dashboard/, where a server started
from dist (npm run start:dist) serves it. A server started from the sources bundles it itself.

Options:
  -h, --help   show this help
`);

const target = new URL('../../dist/dashboard/', import.meta.url);
await writeDashboard(target);
process.stdout.write(`dashboard bundled into ${target.pathname}\n`);
