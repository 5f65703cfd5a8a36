// The conversation benchmark's peer: Vercel's Chat SDK (`chat` 4.41.1) with its WhatsApp adapter
// (`@chat-adapter/whatsapp` 4.41.1, Meta's Cloud API) and its in-memory state
// (`@chat-adapter/state-memory` 4.41.0, the newest of that release line), running the same three-step
// dialog as bench/ConversationBot.ts. It speaks Meta's shape only: webhooks on POST /webhooks/meta,
// verified by the adapter (`X-Hub-Signature-256`), replies through the adapter's Graph client with its
// `apiUrl` pointed at the loopback provider (POST /v25.0/{phone-number-id}/messages).
//
// BENCH_CONCURRENCY picks the SDK's strategy for a message that arrives while its conversation is locked
// (the WhatsApp adapter locks per chat, `lockScope: "channel"`):
// - unset: the SDK's default, `drop`: such a message is logged (LockError) and lost;
// - "queue": it is queued; when the handler ends the SDK hands the handler only the latest queued message
//   and the earlier ones as `context.skipped`. The handler therefore runs the dialog over
//   `[...context.skipped, message]`, in order, so that no answer is lost (the docs' example only mentions
//   the skipped messages; a dialog must read them).
//
// The dialog is one `onDirectMessage` handler (the docs' recommendation for WhatsApp conversations: every
// WhatsApp chat is a DM) keeping the chat's step in the SDK's thread state (`thread.state` /
// `thread.setState`, in the state adapter). Chat SDK's webhook handler takes a Web `Request` and returns
// a `Response` (it is written for Next.js route handlers and the like); on Node it is served here by a
// minimal `node:http` bridge that builds the `Request` from the body read once, which is what a framework
// adapter (Hono's node-server, say) does, with less. Logging: the SDK's `ConsoleLogger` at "warn" (Parley
// and the floors log warnings and errors only), with repeats of the same message counted rather than
// printed (the default strategy logs each lost message), summed up on exit.
//
// Settings come from the environment: BENCH_PORT, BENCH_PROVIDER_URL, BENCH_WEBHOOK_SECRET (the app
// secret), BENCH_META_PHONE_NUMBER_ID, BENCH_CONCURRENCY. Prints "ready" once listening.
import { createMemoryState } from "@chat-adapter/state-memory"
import { createWhatsAppAdapter } from "@chat-adapter/whatsapp"
import { Chat, ConsoleLogger } from "chat"
import { Buffer } from "node:buffer"
import { createServer } from "node:http"

const port = Number(process.env.BENCH_PORT)
const concurrency = process.env.BENCH_CONCURRENCY
if (concurrency !== undefined && concurrency !== "queue") {
  throw new Error(`BENCH_CONCURRENCY must be unset (the SDK's default) or "queue", not "${concurrency}"`)
}

// The SDK's console logger at "warn", each message printed once and then counted.
const repeats = new Map()
const onceEach = (logger) => {
  const once = (level) => (message, ...args) => {
    const seen = repeats.get(message)
    if (seen !== undefined) return void repeats.set(message, seen + 1)
    repeats.set(message, 0)
    logger[level](message, ...args)
  }
  return {
    debug: () => {},
    info: () => {},
    warn: once("warn"),
    error: once("error"),
    child: (prefix) => onceEach(logger.child(prefix))
  }
}
const logger = onceEach(new ConsoleLogger("warn"))

const bot = new Chat({
  userName: "bench-bot",
  adapters: {
    whatsapp: createWhatsAppAdapter({
      accessToken: "bench-access-token",
      appSecret: process.env.BENCH_WEBHOOK_SECRET,
      phoneNumberId: process.env.BENCH_META_PHONE_NUMBER_ID,
      verifyToken: "bench-verify-token",
      apiUrl: process.env.BENCH_PROVIDER_URL,
      logger: logger.child("whatsapp")
    })
  },
  state: createMemoryState(),
  logger,
  ...(concurrency === undefined ? {} : { concurrency })
})

// One step of the dialog: `start` asks the first question, the first answer the second, the second
// answer ends it with a summary. The state is set before the reply goes out, so an answer that comes
// back at once finds it.
const step = async (thread, text) => {
  const state = await thread.state
  if (state?.asking === undefined) {
    if (text !== "start") return
    await thread.setState({ asking: 1 }, { replace: true })
    await thread.post("q1: your first answer?")
  } else if (state.asking === 1) {
    await thread.setState({ asking: 2, first: text }, { replace: true })
    await thread.post("q2: your second answer?")
  } else {
    await thread.setState({}, { replace: true })
    await thread.post(`done ${state.first}|${text}`)
  }
}

bot.onDirectMessage(async (thread, message, _channel, context) => {
  for (const each of [...(context?.skipped ?? []), message]) await step(thread, each.text)
})

const origin = `http://127.0.0.1:${port}`
const server = createServer((req, res) => {
  if (req.url?.split("?")[0] !== "/webhooks/meta") {
    res.writeHead(404, { "content-length": "0" })
    return void res.end()
  }
  const chunks = []
  req.on("data", (chunk) => chunks.push(chunk))
  req.on("end", () => {
    const headers = new globalThis.Headers()
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
    const request = new globalThis.Request(origin + req.url, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks)
    })
    bot.webhooks.whatsapp(request).then(async (response) => {
      const body = Buffer.from(await response.arrayBuffer())
      res.writeHead(response.status, { "content-type": response.headers.get("content-type") ?? "text/plain" })
      res.end(body)
    }, (error) => {
      console.error("webhook failed", error)
      res.writeHead(500)
      res.end()
    })
  })
})

process.on("SIGTERM", () => {
  for (const [message, count] of repeats) {
    if (count > 0) console.error(`[chat-sdk] (${count} more: ${message})`)
  }
  process.exit(0)
})

await bot.initialize()
server.listen(port, "127.0.0.1", () => console.log("ready"))
