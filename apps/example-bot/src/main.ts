/**
 * The example bot's entry point. Until the example-bot issue lands it describes what `pnpm start`
 * will run; it starts nothing.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

const plan = [
  "Parley example bot: not built yet. When it is, `pnpm start` will start, on 127.0.0.1 only:",
  "  1. local emulators of the Multisession gateway (primary) and Wawp (secondary) sharing one number,",
  "  2. a clinic booking bot (webhook server + conversation engine, SQLite under ./data),",
  "  3. a WhatsApp-like simulator page in your browser, whose URL it prints."
]

Effect.runFork(Console.log(plan.join("\n")))
