/**
 * `pnpm bench [name…]`: runs the benchmarks (all, or those named: send, conversations, idle,
 * failover, retention, scale), each in its own process so one's heap and JIT state do not colour the next.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { machine } from "./Report.js"

const all = ["send", "conversations", "idle", "failover", "retention", "scale"]
const chosen = process.argv.slice(2).filter((name) => name !== "--")
const unknown = chosen.filter((name) => !all.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; choose from ${all.join(", ")}`)
  process.exit(2)
}
console.log(
  `## Parley benchmarks\n\nMachine: ${machine()}. Each figure is measured against its baseline in the same run.`
)
for (const name of chosen.length > 0 ? chosen : all) {
  const result = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", `${name}.ts`], {
    cwd: fileURLToPath(new URL(".", import.meta.url)),
    stdio: "inherit"
  })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
