// GraphiQL from the installed packages, so it works without internet: Yoga's own page loads its
// scripts from a CDN. @graphql-yoga/render-graphiql ships the same build (schema explorer, Monaco
// editors and their workers) as strings; we serve each as a file under /graphiql/ so the page
// stays small and the browser caches the 8 MB of assets instead of reloading them with every page.
import type { GraphiQLOptions } from 'graphql-yoga';

export type Asset = { type: string; body: string | Buffer };

/** Where the assets are served; the page refers to nothing else. */
export const GRAPHIQL_ASSET_PREFIX = '/graphiql/';

const JS = 'text/javascript; charset=utf-8';

let loading: Promise<Map<string, Asset>> | null = null;

/** The asset at `path` (e.g. /graphiql/graphiql.js), or undefined. Loaded on first use: 18 MB of strings. */
export async function graphiqlAsset(path: string): Promise<Asset | undefined> {
  loading ??= loadAssets().catch((error: unknown) => {
    loading = null; // the next request tries again
    throw error;
  });
  return (await loading).get(path);
}

async function loadAssets(): Promise<Map<string, Asset>> {
  const built = await import('@graphql-yoga/render-graphiql/graphiql');
  const icon = built.favicon.replace(/^data:[^,]*;base64,/, '');
  return new Map<string, Asset>(
    Object.entries({
      'graphiql.js': { type: JS, body: built.js },
      'graphiql.css': { type: 'text/css; charset=utf-8', body: built.css },
      'editor.worker.js': { type: JS, body: built.editorWorkerService },
      'json.worker.js': { type: JS, body: built.jsonWorker },
      'graphql.worker.js': { type: JS, body: built.graphqlWorker },
      'favicon.ico': { type: 'image/x-icon', body: Buffer.from(icon, 'base64') },
    }).map(([name, asset]) => [`${GRAPHIQL_ASSET_PREFIX}${name}`, asset]),
  );
}

/** The page Yoga serves at GET /graphql (Accept: text/html), with every asset from this server. */
export function renderGraphiQL(options: GraphiQLOptions): string {
  const at = (name: string) => `${GRAPHIQL_ASSET_PREFIX}${name}`;
  // Inside <script>, a "</script>" in a default query must not end the element.
  const json = JSON.stringify(options).replace(/</g, '\\u003c');
  const title = escapeHtml(options.title ?? 'GraphiQL');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<link rel="icon" href="${at('favicon.ico')}">
<link rel="stylesheet" href="${at('graphiql.css')}">
</head>
<body id="body" class="no-focus-outline">
<noscript>You need to enable JavaScript to run GraphiQL.</noscript>
<div id="root">Loading ${title}…</div>
<script>
const workers = {
  editorWorkerService: ${JSON.stringify(at('editor.worker.js'))},
  json: ${JSON.stringify(at('json.worker.js'))},
  graphql: ${JSON.stringify(at('graphql.worker.js'))},
};
self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (_moduleId, label) => workers[label] };
</script>
<script src="${at('graphiql.js')}"></script>
<script>YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), ${json});</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}
