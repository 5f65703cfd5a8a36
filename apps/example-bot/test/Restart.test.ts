import { afterEach, describe, expect, it } from "vitest"
import { type App, follow, freePort, removeData, say, settled, startApp, tempData } from "./app.js"

describe("the example bot process", () => {
  const cleanup: Array<() => unknown> = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })

  it("continues a dialog after being killed with SIGKILL mid-dialog", async () => {
    const dataDir = tempData()
    cleanup.push(() => removeData(dataDir))
    const port = await freePort()

    const first: App = await startApp({ port, dataDir })
    cleanup.push(() => first.process.kill("SIGKILL"))
    const before = follow(first.base)
    await say(first.base, "book")
    await before.reply((t) => t.includes("What's your name?"))
    await say(first.base, "Grace")
    await before.reply((t) => t.includes("Which date?"))
    // Killed once the answer is committed: a prompt whose event was not committed yet is sent again after
    // the restart, by design (a send in flight at a crash may repeat).
    await settled(first.base)
    await before.close()
    first.process.kill("SIGKILL")
    expect(await first.exited).toBe(null)

    const second = await startApp({ port, dataDir })
    cleanup.push(() => second.process.kill("SIGKILL"))
    const after = follow(second.base)
    await say(second.base, "2026-12-01")
    const prompt = await after.reply((t) => t.includes("Pick a time"))
    expect(prompt.content.text).toContain("Thanks Grace. Pick a time on 2026-12-01")
    await say(second.base, "1")
    await after.reply((t) => t.startsWith("Book Grace on 2026-12-01 at 09:00?"))
    await say(second.base, "yes")
    await after.reply((t) => t.startsWith("Booked ✅ Grace, 2026-12-01 at 09:00"))
    // No prompt from before the kill was sent again.
    const texts = after.messages.filter((m) => m.direction === "out").map((m) => m.content.text ?? "")
    expect(texts.some((t) => t.includes("What's your name?") || t.includes("Which date?"))).toBe(false)
    await after.close()

    // A clean stop (Ctrl-C) exits with 0.
    second.process.kill("SIGINT")
    expect(await second.exited).toBe(0)
  }, 60_000)

  it("names the setting to change when the port is taken", async () => {
    const dataDir = tempData()
    cleanup.push(() => removeData(dataDir))
    const port = await freePort()
    const running = await startApp({ port, dataDir })
    cleanup.push(() => running.process.kill("SIGKILL"))
    const otherDir = tempData()
    cleanup.push(() => removeData(otherDir))
    await expect(startApp({ port, dataDir: otherDir })).rejects.toThrow(/set PARLEY_PORT to a free port/)
  }, 60_000)
})
