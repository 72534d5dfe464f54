// `npm run build` (postbuild): bundles the dashboard into dist/dashboard/, where a server started
// from dist (npm run start:dist) finds it. Started from the sources, the server bundles it itself.
import { writeDashboard } from '../http/dashboard/assets.js';

const target = new URL('../../dist/dashboard/', import.meta.url);
await writeDashboard(target);
process.stdout.write(`dashboard bundled into ${target.pathname}\n`);
