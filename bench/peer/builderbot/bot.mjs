// The conversation benchmark's peer: BuilderBot 1.3.13 running the same three-step dialog as
// bench/ConversationBot.ts, with a custom provider (a `ProviderClass`, as BuilderBot's own providers
// are) that receives the same webhooks as the other bots and sends replies to the same loopback
// provider, in either shape (BENCH_SHAPE):
// - "waha" (default): WAHA webhooks (POST /webhooks/chatsend), replies with ChatSend's POST /sendText;
// - "meta": Meta's Cloud API envelope (POST /webhooks/meta), read as @builderbot/provider-meta 1.2.2
//   reads it (the first change's messages, the first contact's name), replies with the Graph API's
//   POST /v23.0/{phone-number-id}/messages and provider-meta's text body. provider-meta itself cannot
//   be pointed at the loopback provider (its Graph URL is fixed) and sends through a queue of one
//   request at a time, 100 ms apart (10 messages/s); this provider sends at once, as for WAHA.
// Neither shape's signature is checked: BuilderBot's WAHA path has none, and provider-meta 1.2.2 checks
// none (its development line adds an optional X-Hub-Signature-256 check).
// Settings come from the environment: BENCH_PORT, BENCH_PROVIDER_URL, BENCH_VARIANT, BENCH_SHAPE,
// BENCH_META_PHONE_NUMBER_ID. Prints "ready" once listening.
//
// BENCH_VARIANT picks one of two ways to write the dialog (see /work/shared/peers.md):
// - "capture" (default): BuilderBot's idiomatic dialog, one flow of chained `capture` answers, with a
//   send that resolves when the provider has answered. BuilderBot records that it waits for an answer
//   only after the send resolves (the second question one timer tick later still), and drops an answer
//   that arrives before that: users who answer at once lose dialogs.
// - "goto": the variant that loses nothing. Each question is the first answer of its own flow, the next
//   flow is entered with `gotoFlow` (which sends and records the question without a timer tick), and the
//   send does not wait for the provider's answer, as @builderbot/provider-meta's does: the question is
//   recorded before the request leaves the process, so no answer can arrive ahead of it.
import { addKeyword, createBot, createFlow, createProvider, EVENTS, MemoryDB, ProviderClass } from "@builderbot/bot"
import { EventEmitter } from "node:events"
import { setImmediate } from "node:timers"

const variant = process.env.BENCH_VARIANT ?? "capture"
const shape = process.env.BENCH_SHAPE ?? "waha"
if (shape !== "waha" && shape !== "meta") throw new Error(`BENCH_SHAPE must be "waha" or "meta", not "${shape}"`)

class LoopbackProvider extends ProviderClass {
  globalVendorArgs = { name: "loopback", port: 0 }

  constructor(args) {
    super()
    this.sendUrl = shape === "waha"
      ? `${args.providerUrl}/sendText`
      : `${args.providerUrl}/v23.0/${args.phoneNumberId}/messages`
    // provider-meta sends its token as a bearer; the WAHA path sent no key.
    this.authorization = shape === "meta" ? { authorization: "Bearer bench-access-token" } : {}
  }

  async initVendor() {
    return new EventEmitter()
  }

  beforeHttpServerInit() {
    if (shape === "waha") {
      this.server.post("/webhooks/chatsend", (req, res) => {
        const payload = req.body?.payload
        if (req.body?.event === "message" && payload && !payload.fromMe) {
          this.vendor.emit("message", { from: String(payload.from).replace(/@.*$/, ""), body: payload.body, name: "" })
        }
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{\"status\":\"ok\"}")
      })
    } else {
      this.server.post("/webhooks/meta", (req, res) => {
        const value = req.body?.entry?.[0]?.changes?.[0]?.value
        const name = value?.contacts?.[0]?.profile?.name
        for (const message of value?.messages ?? []) {
          if (message.type === "text") {
            this.vendor.emit("message", { from: message.from, body: message.text?.body, name })
          }
        }
        res.statusCode = 200
        res.end("Messages enqueued")
      })
    }
  }

  afterHttpServerInit() {
    // BuilderBot calls this before it starts listening (it passes `cb(routes)` to `listen`): announce
    // "ready" once polka's server is listening, or the first webhooks find the port closed.
    setImmediate(() => {
      const server = this.server.server
      if (server.listening) console.log("ready")
      else server.once("listening", () => console.log("ready"))
    })
  }

  busEvents() {
    return [{ event: "message", func: (payload) => this.emit("message", payload) }]
  }

  async sendMessage(number, message) {
    const body = shape === "waha"
      ? JSON.stringify({ session: "default", to: `+${number}`, text: message })
      : JSON.stringify({
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: number,
        type: "text",
        text: { preview_url: false, body: message }
      })
    const send = () =>
      globalThis.fetch(this.sendUrl, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...this.authorization },
        body
      }).then((response) => response.json())
    // One retry when the connection drops before an answer (Parley's clients retry a refused or reset
    // connection too): an unhandled rejection here would end BuilderBot's process.
    const sent = send().catch(send)
    if (variant === "capture") return sent
    // A reply that fails twice is not retried further; the benchmark counts its dialog as lost.
    sent.catch((error) => console.error(`send to ${number} failed: ${error}`))
  }

  async saveFile() {
    return ""
  }
}

const summary = (state, second) => `done ${state.get("first")}|${second}`

const captureFlows = () => [
  addKeyword(["start"])
    .addAnswer("q1: your first answer?", { capture: true }, async (ctx, { state }) => {
      await state.update({ first: ctx.body })
    })
    .addAnswer("q2: your second answer?", { capture: true }, async (ctx, { state, flowDynamic }) => {
      await flowDynamic(summary(state, ctx.body))
    })
]

const gotoFlows = () => {
  const second = addKeyword(EVENTS.ACTION)
    .addAnswer("q2: your second answer?", { capture: true }, async (ctx, { state, flowDynamic }) => {
      await flowDynamic(summary(state, ctx.body))
    })
  const first = addKeyword(["start"])
    .addAnswer("q1: your first answer?", { capture: true }, async (ctx, { state, gotoFlow }) => {
      await state.update({ first: ctx.body })
      return gotoFlow(second)
    })
  return [first, second]
}

const flows = { capture: captureFlows, goto: gotoFlows }[variant]
if (flows === undefined) throw new Error(`BENCH_VARIANT must be "capture" or "goto", not "${variant}"`)
const provider = createProvider(LoopbackProvider, {
  providerUrl: process.env.BENCH_PROVIDER_URL,
  phoneNumberId: process.env.BENCH_META_PHONE_NUMBER_ID
})
const { httpServer } = await createBot({ flow: createFlow(flows()), provider, database: new MemoryDB() })
httpServer(Number(process.env.BENCH_PORT))
