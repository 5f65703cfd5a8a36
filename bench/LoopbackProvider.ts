/**
 * The minimal provider both sides of a benchmark talk to, in both of the API shapes the bots send in:
 * - ChatSend's (WAHA's) `POST /sendText` (`{ session, to, text }`), answered `{ id, status }`;
 * - Meta's Graph API `POST /{version}/{phone-number-id}/messages` (`{ messaging_product, to, type:
 *   "text", text: { body } }`), answered as the Cloud API does (`{ messaging_product, contacts, messages:
 *   [{ id }] }`); a mark-as-read on the same path (`{ status: "read", message_id }`) is answered
 *   `{ success: true }` and is not a message sent.
 *
 * Each message is answered at once and then reported to `onSent`, its recipient written `+<digits>`
 * whichever shape it came in (Meta's `to` has no `+`). No parsing beyond the body's JSON, so what is
 * measured is the client.
 */
import { spawn } from "node:child_process"
import { createServer, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"

export interface Sent {
  /** The recipient, `+<digits>`. */
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

interface ChatSendBody {
  readonly to?: string
  readonly text?: string
}

interface GraphBody {
  readonly to?: string
  readonly status?: string
  readonly text?: { readonly body?: string }
}

const json = (response: ServerResponse, status: number, answer: string) => {
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) })
  response.end(answer)
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
        const raw = Buffer.concat(chunks).toString("utf8") || "{}"
        const url = request.url ?? ""
        if (url === "/sendText") {
          const body = JSON.parse(raw) as ChatSendBody
          json(response, 200, JSON.stringify({ id: `true_${body.to ?? ""}_${++id}`, status: "sent" }))
          count++
          provider.onSent({ to: body.to ?? "", text: body.text ?? "" })
        } else if (url.endsWith("/messages")) {
          const body = JSON.parse(raw) as GraphBody
          if (body.status === "read") return json(response, 200, "{\"success\":true}")
          const to = body.to ?? ""
          json(
            response,
            200,
            `{"messaging_product":"whatsapp","contacts":[{"input":${JSON.stringify(to)},"wa_id":${
              JSON.stringify(to)
            }}],"messages":[{"id":"wamid.bench${++id}"}]}`
          )
          count++
          provider.onSent({ to: to.startsWith("+") ? to : `+${to}`, text: body.text?.body ?? "" })
        } else {
          json(response, 404, "{\"error\":\"not found\"}")
        }
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
