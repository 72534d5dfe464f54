// Prisma 7 reads its configuration from here (the top level of the repository is fixed).
// No datasource URL: the CLI is only used to generate the client (see PRISMA-OFFLINE.md);
// the app connects through @prisma/adapter-pg with the URL from src/config.ts.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: '../prisma/schema.prisma',
  migrations: { path: '../prisma/migrations' },
});
