/**
 * Regression test for the Node 24 abort: better-sqlite3 12 on Node 24.19+ aborts the process
 * (`RemoveEnvironmentCleanupHook ... (env) != nullptr`) within a second or two of this load (10 runs
 * of 10 aborted with it on Node 24.21), when a
 * statement is finalised by a collection outside JavaScript. The store must keep running.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("fixtures/steady-writes.ts", import.meta.url))

describe("under forced garbage collection", () => {
  it("a process writing steadily for 5 s stays alive and keeps every write", () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-gc-"))
    try {
      const filename = join(dir, "store.db")
      const child = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", fixture, filename, "5000"], {
        encoding: "utf8",
        timeout: 60_000
      })
      expect({ signal: child.signal, status: child.status, stderr: child.stderr }).toEqual({
        signal: null,
        status: 0,
        stderr: expect.any(String)
      })
      const { writes } = JSON.parse(child.stdout.trim().split("\n").at(-1)!)
      expect(writes).toBeGreaterThan(5_000)
      const db = new DatabaseSync(filename)
      const [row] = db.prepare("SELECT COUNT(*) AS n FROM writes").all()
      db.close()
      expect(row).toEqual({ n: Math.min(writes, 1000) })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
