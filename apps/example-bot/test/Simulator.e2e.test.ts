import { existsSync, mkdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type App, freePort, removeData, startApp, tempData } from "./app.js"

// The distribution's Chromium (installed by .ci/run), never a downloaded browser.
const executablePath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync)
const artifacts = fileURLToPath(new URL("../test-results/", import.meta.url))

if (executablePath === undefined) {
  console.warn("!!! Chromium not found: the simulator's browser test is SKIPPED. `.ci/run` installs it.")
}

describe.skipIf(executablePath === undefined)("the simulator page in a real browser", () => {
  let app: App
  let dataDir: string
  beforeAll(async () => {
    dataDir = tempData()
    app = await startApp({ port: await freePort(), dataDir })
  }, 30_000)
  afterAll(async () => {
    app?.process.kill("SIGINT")
    await app?.exited
    removeData(dataDir)
  })

  it("greets, books, shows ticks, and keeps replying through the gateway when Wawp fails", async () => {
    const browser = await chromium.launch({
      executablePath: executablePath!,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
      await page.goto(app.base)
      await page.waitForSelector("body[data-ready]")
      const messages = page.getByRole("log", { name: "Messages" })
      const composer = page.getByLabel("Message", { exact: true })
      const send = async (text: string, expected: string) => {
        await composer.fill(text)
        await composer.press("Enter")
        await messages.locator(".msg.out", { hasText: expected }).last().waitFor()
      }

      await send("hi", "Welcome to Sunrise Clinic")
      await send("book", "What's your name?")
      await send("Ada", "Which date?")
      await send("next tuesday", "Please write the date as YYYY-MM-DD")
      await send("2026-12-01", "Pick a time on 2026-12-01")
      await send("2", "Book Ada on 2026-12-01 at 11:00?")
      await send("yes", "Booked ✅ Ada, 2026-12-01 at 11:00")

      // Ticks: the confirmation is read (blue double tick) on the user's phone. Users write through Wawp
      // (the Multisession gateway's webhooks carry no content), and replies go back the same way.
      const booked = messages.locator(".msg.out", { hasText: "Booked ✅" })
      await booked.locator(".ticks.read").waitFor()
      expect(await booked.getAttribute("data-provider")).toBe("wawp")

      // Wawp starts failing its sends: the next reply still arrives, through the Multisession gateway.
      await page.locator("#mode-wawp").selectOption("failing")
      await page.locator("#breaker-wawp").waitFor()
      await send("my bookings", "Your bookings")
      const listed = messages.locator(".msg.out", { hasText: "Your bookings" })
      expect(await listed.getAttribute("data-provider")).toBe("multisession")
      expect(await listed.textContent()).toContain("2026-12-01 at 11:00 for Ada")

      mkdirSync(artifacts, { recursive: true })
      await page.screenshot({ path: `${artifacts}simulator.png`, fullPage: true })
      expect(existsSync(`${artifacts}simulator.png`)).toBe(true)
    } finally {
      await browser.close()
    }
  }, 90_000)
})
