/**
 * The test projects of the Parley workspace: one per package and app, each with the shared settings.
 *
 * Vitest reads projects from `test.projects` in `vitest.config.ts`, which imports this list, so the
 * workspace layout lives here.
 */
export const projects = ["packages/*", "apps/*"]
