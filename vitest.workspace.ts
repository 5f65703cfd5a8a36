/**
 * The test projects of the Parley workspace: one per package and app, each with the shared settings.
 *
 * Vitest 3.2 reads projects from `test.projects` in `vitest.config.ts`, which imports this list, so
 * the workspace layout lives here without Vitest's deprecated workspace-file lookup.
 */
export const projects = ["packages/*", "apps/*"]
