/**
 * The minimal provider both sides of a benchmark talk to: answers `POST /sendText` (ChatSend's send
 * endpoint) at once with a message id, and tells listeners what was sent. No parsing beyond the
 * body's JSON, so what is measured is the client.
 */
import { spawn } from "node:child_process"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"

export interface Sent {
  readonly to: string
  readonly text: string
}

export interface LoopbackProvider {
  readonly url: string
  readonly server: Server
  /** Called for every message sent, after it was answered. */
  onSent: (sent: Sent) => void
  /** Messages answered so far. */
  readonly count: () => number
  readonly close: () => Promise<void>
}

export const start = async (): Promise<LoopbackProvider> => {
  let count = 0
  let id = 0
  const provider: LoopbackProvider = {
    url: "",
    server: createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Partial<Sent>
        const answer = JSON.stringify({ id: `true_${body.to ?? ""}_${++id}`, status: "sent" })
        response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) })
        response.end(answer)
        count++
        provider.onSent({ to: body.to ?? "", text: body.text ?? "" })
      })
    }),
    onSent: () => {},
    count: () => count,
    close: () =>
      new Promise((resolve) => {
        provider.server.closeAllConnections()
        provider.server.close(() => resolve())
      })
  }
  // Longer than any client's idle keep-alive, so a client never reuses a connection as it closes.
  provider.server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => provider.server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(provider.server.address() as AddressInfo).port}`
  return Object.assign(provider, { url })
}

/**
 * The same server in a child process, so that a client measured in this process does not share its
 * event loop with the server.
 */
export const spawnServer = async (): Promise<{ readonly url: string; readonly close: () => Promise<void> }> => {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "serve"], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()))
    child.once("exit", (code) => reject(new Error(`the loopback server exited (${code})`)))
  })
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve())
        child.kill()
      })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "serve") {
  const provider = await start()
  console.log(provider.url)
}
