// The conversation benchmark's peer: BuilderBot 1.3.13 running the same three-step dialog as
// bench/ConversationBot.ts, with a custom provider that receives the same WAHA webhooks (POST
// /webhooks/chatsend) and sends replies to the same loopback provider (POST /sendText). Settings
// come from the environment: BENCH_PORT, BENCH_PROVIDER_URL. Prints "ready" once listening.
import { addKeyword, createBot, createFlow, createProvider, MemoryDB, ProviderClass } from "@builderbot/bot"
import { EventEmitter } from "node:events"

class LoopbackProvider extends ProviderClass {
  globalVendorArgs = { name: "loopback", port: 0 }

  constructor(args) {
    super()
    this.sendUrl = `${args.providerUrl}/sendText`
  }

  async initVendor() {
    return new EventEmitter()
  }

  beforeHttpServerInit() {
    this.server.post("/webhooks/chatsend", (req, res) => {
      const payload = req.body?.payload
      if (req.body?.event === "message" && payload && !payload.fromMe) {
        this.vendor.emit("message", { from: String(payload.from).replace(/@.*$/, ""), body: payload.body, name: "" })
      }
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{\"status\":\"ok\"}")
    })
  }

  afterHttpServerInit() {
    console.log("ready")
  }

  busEvents() {
    return [{ event: "message", func: (payload) => this.emit("message", payload) }]
  }

  async sendMessage(number, message) {
    const send = () =>
      globalThis.fetch(this.sendUrl, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ session: "default", to: `+${number}`, text: message })
      }).then((response) => response.json())
    // One retry when the connection drops before an answer (Parley's clients retry a refused or reset
    // connection too): an unhandled rejection here would end BuilderBot's process.
    return send().catch(send)
  }

  async saveFile() {
    return ""
  }
}

const dialog = addKeyword(["start"])
  .addAnswer("q1: your first answer?", { capture: true }, async (ctx, { state }) => {
    await state.update({ first: ctx.body })
  })
  .addAnswer("q2: your second answer?", { capture: true }, async (ctx, { state, flowDynamic }) => {
    await flowDynamic(`done ${state.get("first")}|${ctx.body}`)
  })

const provider = createProvider(LoopbackProvider, { providerUrl: process.env.BENCH_PROVIDER_URL })
const { httpServer } = await createBot({ flow: createFlow([dialog]), provider, database: new MemoryDB() })
httpServer(Number(process.env.BENCH_PORT))
