/**
 * Runs the example bot as a real child process (as `pnpm start` does) on a free loopback port with
 * its data in a temp dir, and talks to it through the simulator's API and event stream.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const appDir = fileURLToPath(new URL("..", import.meta.url))

export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

export const tempData = () => mkdtempSync(join(tmpdir(), "parley-app-"))
export const removeData = (dir: string) => rmSync(dir, { recursive: true, force: true })

export interface App {
  readonly base: string
  readonly process: ChildProcess
  readonly output: () => string
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>
}

/**
 * Starts `node --import tsx <script>` in the app's folder with `env` added, and resolves once its
 * output contains `ready` (rejects, with the output, if it exits first).
 */
export const spawnUntil = async (
  script: string,
  env: Record<string, string>,
  ready: string
): Promise<Omit<App, "base">> => {
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: appDir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes(ready)) resolve()
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", (chunk: Buffer) => void (output += chunk.toString()))
    void exited.then((code) => reject(new Error(`${script} exited (${code}) before starting:\n${output}`)))
  })
  return { process: child, output: () => output, exited }
}

/** Starts the bot and resolves once it prints that it is running. */
export const startApp = async (options: {
  readonly port: number
  readonly dataDir: string
  readonly env?: Record<string, string>
}): Promise<App> => {
  const app = await spawnUntil("src/main.ts", {
    PARLEY_PORT: String(options.port),
    PARLEY_DATA_DIR: options.dataDir,
    PARLEY_REMINDER_DELAY: "1 hour",
    ...options.env
  }, "is running")
  return { ...app, base: `http://127.0.0.1:${options.port}` }
}

export interface UiMessage {
  readonly id: string
  readonly chat: string
  readonly direction: "in" | "out"
  readonly provider: string
  readonly status: string
  readonly content: { readonly kind: string; readonly text?: string }
}

/** Follows the simulator's event stream, collecting every message it reports. */
export const follow = (base: string) => {
  const messages: Array<UiMessage> = []
  const waiters: Array<() => void> = []
  const controller = new AbortController()
  const done = fetch(`${base}/api/events`, { signal: controller.signal }).then(async (response) => {
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ""
    while (true) {
      const { done, value } = await reader.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = JSON.parse(buffer.slice(0, end).replace(/^data: /, ""))
        buffer = buffer.slice(end + 2)
        if (event.type === "snapshot") messages.push(...event.messages)
        if (event.type === "message") messages.push(event.message)
        for (const wake of waiters.splice(0)) wake()
      }
    }
  }).catch(() => undefined)
  /** Resolves with the first bot message (from `after` on) whose text satisfies `match`. */
  const reply = (match: (text: string) => boolean, after = 0): Promise<UiMessage> =>
    new Promise((resolve) => {
      const check = () => {
        const found = messages.slice(after).find((m) => m.direction === "out" && match(m.content.text ?? ""))
        if (found) resolve(found)
        else waiters.push(check)
      }
      check()
    })
  return { messages, reply, close: () => (controller.abort(), done) }
}

/** A WAHA `message` webhook as ChatSend posts it: `phone`'s message `id`, saying `body`. */
export const wahaMessage = (session: string, phone: string, id: string, body: string) => {
  const messageId = `false_${phone}@c.us_${id}`
  const now = Date.now()
  return JSON.stringify({
    id: `evt_${messageId}`,
    timestamp: now,
    event: "message",
    session,
    payload: { id: messageId, timestamp: Math.floor(now / 1000), from: `${phone}@c.us`, fromMe: false, body }
  })
}

/** Resolves once the bot has handled (and committed) every message it acknowledged. */
export const settled = async (base: string) => {
  while ((await fetch(`${base}/health`).then((r) => r.json() as Promise<{ pending: number }>)).pending !== 0) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Writes to the bot as a simulated user. */
export const say = async (base: string, text: string, chat = "+31612345678") => {
  const response = await fetch(`${base}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ chat, text })
  })
  if (!response.ok) throw new Error(`POST /api/messages answered ${response.status}: ${await response.text()}`)
}
