import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai-compat"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Faults, OpenAiEmulator } from "@parley/testing"
import type * as AiError from "effect/ai/AiError"
import * as Chat from "effect/ai/Chat"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as Prompt from "effect/ai/Prompt"
import * as Tool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

// The language model the compat client makes of an emulator (a fresh layer per call).
const languageModel = (
  emulator: OpenAiEmulator.OpenAiEmulator,
  options: { readonly apiKey?: string; readonly model?: string } = {}
) =>
  OpenAiLanguageModel.layer({ model: options.model ?? emulator.model }).pipe(
    Layer.provide(
      OpenAiClient.layer({ apiUrl: emulator.url, apiKey: Redacted.make(options.apiKey ?? emulator.apiKey) })
    ),
    Layer.provide(NodeHttpClient.layerUndici)
  )

const GetSlots = Tool.make("GetSlots", {
  description: "Free appointment slots on a day",
  parameters: Schema.Struct({ day: Schema.Literals(["monday", "tuesday"]) }),
  success: Schema.Array(Schema.String)
})

// The same tool, answering a bad call with a failure the model reads instead of failing the turn.
const GetSlotsLenient = Tool.make("GetSlots", {
  description: "Free appointment slots on a day",
  parameters: Schema.Struct({ day: Schema.Literals(["monday", "tuesday"]) }),
  success: Schema.Array(Schema.String),
  failureMode: "return"
})

const Clinic = Toolkit.make(GetSlots)
const ClinicLenient = Toolkit.make(GetSlotsLenient)

const slots = (calls: Ref.Ref<number>) => ({
  GetSlots: ({ day }: { readonly day: "monday" | "tuesday" }) =>
    Effect.as(Ref.update(calls, (n) => n + 1), day === "monday" ? ["09:00", "11:30"] : [])
})

const reasonOf = <A, R>(effect: Effect.Effect<A, AiError.AiError, R>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

describe("OpenAiEmulator through @effect/ai-openai-compat", () => {
  it.live("answers text with token usage; the model saw the system prompt and the history", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({
        script: [
          OpenAiEmulator.text("Hello Ada, how can I help?"),
          OpenAiEmulator.text("Done.", {
            usage: { promptTokens: 120, completionTokens: 7, cachedTokens: 100, reasoningTokens: 2 }
          })
        ]
      })
      const prompt = Prompt.make([
        { role: "system", content: "You are the clinic's assistant." },
        { role: "user", content: "Hi, I'm Ada" }
      ])
      const first = yield* LanguageModel.generateText({ prompt }).pipe(Effect.provide(languageModel(emulator)))
      expect(first.text).toBe("Hello Ada, how can I help?")
      expect(first.finishReason).toBe("stop")
      expect(first.usage.inputTokens.total).toBeGreaterThan(0)
      expect(first.usage.outputTokens.total).toBe(7)

      const second = yield* LanguageModel.generateText({
        prompt: Prompt.concat(Prompt.concat(prompt, Prompt.fromResponseParts(first.content)), "Book me in")
      }).pipe(Effect.provide(languageModel(emulator)))
      expect(second.usage.inputTokens).toMatchObject({ total: 120, cacheRead: 100, uncached: 20 })
      expect(second.usage.outputTokens).toMatchObject({ total: 7, reasoning: 2, text: 5 })

      const [asked, asked2] = yield* emulator.prompts
      expect(asked!.model).toBe("gpt-4o-mini")
      expect(asked!.messages).toEqual([
        { role: "system", content: "You are the clinic's assistant." },
        { role: "user", content: "Hi, I'm Ada" }
      ])
      expect(asked2!.messages.slice(2)).toEqual([
        { role: "assistant", content: "Hello Ada, how can I help?" },
        { role: "user", content: "Book me in" }
      ])
      const requests = yield* emulator.requests
      expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
        "POST /v1/chat/completions",
        "POST /v1/chat/completions"
      ])
      expect(requests[0]!.headers.authorization).toBe(`Bearer ${emulator.apiKey}`)
    }))

  it.live("a tool-calling round trip: the model asks, the toolkit's handler runs, the result goes back", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({
        script: [
          OpenAiEmulator.toolCall("GetSlots", { day: "monday" }),
          OpenAiEmulator.text("Monday at 09:00 or 11:30.")
        ]
      })
      const calls = yield* Ref.make(0)
      const toolkit = yield* Clinic.pipe(Effect.provide(Clinic.toLayer(slots(calls))))
      const prompt = Prompt.make("Any slots on Monday?")

      const first = yield* LanguageModel.generateText({ prompt, toolkit }).pipe(
        Effect.provide(languageModel(emulator))
      )
      expect(first.finishReason).toBe("tool-calls")
      expect(first.toolCalls.map(({ id, name, params }) => ({ id, name, params }))).toEqual([
        { id: "call_1", name: "GetSlots", params: { day: "monday" } }
      ])
      expect(first.toolResults.map(({ id, isFailure, result }) => ({ id, isFailure, result }))).toEqual([
        { id: "call_1", isFailure: false, result: ["09:00", "11:30"] }
      ])
      expect(yield* Ref.get(calls)).toBe(1)

      const second = yield* LanguageModel.generateText({
        prompt: Prompt.concat(prompt, Prompt.fromResponseParts(first.content)),
        toolkit
      }).pipe(Effect.provide(languageModel(emulator)))
      expect(second.text).toBe("Monday at 09:00 or 11:30.")
      expect(second.toolCalls).toEqual([])

      const [asked, asked2] = yield* emulator.prompts
      expect(asked!.tools).toEqual([{
        type: "function",
        function: {
          name: "GetSlots",
          description: "Free appointment slots on a day",
          parameters: {
            type: "object",
            properties: { day: { type: "string", enum: ["monday", "tuesday"] } },
            required: ["day"],
            additionalProperties: false
          },
          strict: true
        }
      }])
      expect(asked2!.messages.slice(1)).toEqual([
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "call_1",
            type: "function",
            function: { name: "GetSlots", arguments: "{\"day\":\"monday\"}" }
          }]
        },
        { role: "tool", tool_call_id: "call_1", content: "[\"09:00\",\"11:30\"]" }
      ])
    }))

  it.live("without automatic resolution each tool call comes back for the caller to run (and journal) itself", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({
        script: [
          OpenAiEmulator.toolCalls([
            { id: "call_mon", name: "GetSlots", arguments: { day: "monday" } },
            { id: "call_tue", name: "GetSlots", arguments: { day: "tuesday" } }
          ]),
          OpenAiEmulator.text("Only Monday has room.")
        ]
      })
      const calls = yield* Ref.make(0)
      const toolkit = yield* Clinic.pipe(Effect.provide(Clinic.toLayer(slots(calls))))
      const prompt = Prompt.make("This week?")
      const first = yield* LanguageModel.generateText({ prompt, toolkit, disableToolCallResolution: true }).pipe(
        Effect.provide(languageModel(emulator))
      )
      expect(first.toolCalls.map((call) => [call.id, call.params])).toEqual([
        ["call_mon", { day: "monday" }],
        ["call_tue", { day: "tuesday" }]
      ])
      expect(first.toolResults).toEqual([])
      expect(yield* Ref.get(calls)).toBe(0)

      // One step per call: run it through the toolkit and keep its result part.
      const results = yield* Effect.forEach(
        first.toolCalls,
        (call) =>
          toolkit.handle(call.name, call.params, call.id).pipe(
            Effect.flatMap(Stream.runLast),
            Effect.map((result) =>
              Prompt.toolResultPart({
                id: call.id,
                name: call.name,
                isFailure: false,
                result: result._tag === "Some" ? result.value.encodedResult : null,
                providerExecuted: false
              })
            )
          )
      )
      expect(yield* Ref.get(calls)).toBe(2)
      const history = Prompt.concat(
        Prompt.concat(prompt, Prompt.fromResponseParts(first.content)),
        Prompt.fromMessages([Prompt.toolMessage({ content: results })])
      )
      const second = yield* LanguageModel.generateText({ prompt: history, toolkit, disableToolCallResolution: true })
        .pipe(Effect.provide(languageModel(emulator)))
      expect(second.text).toBe("Only Monday has room.")
      expect((yield* emulator.prompts)[1]!.messages.slice(2)).toEqual([
        { role: "tool", tool_call_id: "call_mon", content: "[\"09:00\",\"11:30\"]" },
        { role: "tool", tool_call_id: "call_tue", content: "[]" }
      ])
    }))

  describe("bad output from the model", () => {
    it.live("malformed JSON arguments fail the response with ToolParameterValidationError", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [OpenAiEmulator.toolCall("GetSlots", "{\"day\": \"mon")]
        })
        const toolkit = yield* Clinic.pipe(Effect.provide(Clinic.toLayer(slots(yield* Ref.make(0)))))
        const error = yield* Effect.flip(
          LanguageModel.generateText({ prompt: "Monday?", toolkit }).pipe(Effect.provide(languageModel(emulator)))
        )
        expect(error).toMatchObject({ module: "OpenAiLanguageModel", method: "makeResponse" })
        expect(error.reason).toMatchObject({ _tag: "ToolParameterValidationError", toolName: "GetSlots" })
        expect(error.isRetryable).toBe(true)
      }))

    it.live("arguments that do not fit the schema: the model is told, and may try again", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [OpenAiEmulator.toolCall("GetSlots", { day: "someday" })]
        })
        const calls = yield* Ref.make(0)
        // A strict tool fails the turn...
        const strict = yield* Clinic.pipe(Effect.provide(Clinic.toLayer(slots(calls))))
        const failed = yield* Effect.flip(
          LanguageModel.generateText({ prompt: "Monday?", toolkit: strict }).pipe(
            Effect.provide(languageModel(emulator))
          )
        )
        expect(failed).toMatchObject({ module: "Toolkit", method: "GetSlots.handle" })
        expect((failed as AiError.AiError).reason._tag).toBe("ToolParameterValidationError")

        // ...a lenient one ("return" failure mode) answers the call with the failure, for the model to read.
        yield* emulator.script(
          OpenAiEmulator.toolCall("GetSlots", { day: "someday" }),
          OpenAiEmulator.toolCall("GetSlots", { day: "monday" }),
          OpenAiEmulator.text("Monday at 09:00 or 11:30.")
        )
        const toolkit = yield* ClinicLenient.pipe(Effect.provide(ClinicLenient.toLayer(slots(calls))))
        // Chat goes round again while every tool call got a result, here at most three times.
        const chat = yield* Chat.empty
        const answer = yield* chat.streamText({ prompt: "Monday?", toolkit, maxSteps: 3 }).pipe(
          Stream.runFold(() => "", (text, part) => part.type === "text-delta" ? text + part.delta : text),
          Effect.provide(languageModel(emulator))
        )
        expect(answer).toBe("Monday at 09:00 or 11:30.")
        expect(yield* Ref.get(calls)).toBe(1)
        const prompts = yield* emulator.prompts
        const told = prompts[2]!.messages.at(-1)!
        expect(told.role).toBe("tool")
        expect(OpenAiEmulator.contentText(told.content)).toContain("ToolParameterValidationError")
        expect(prompts[3]!.messages.at(-1)).toEqual({
          role: "tool",
          tool_call_id: "call_3",
          content: "[\"09:00\",\"11:30\"]"
        })
      }))

    it.live("an unknown tool fails the response with ToolNotFoundError, or comes back for the caller if deferred", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [
            OpenAiEmulator.toolCall("CancelEverything", {}),
            OpenAiEmulator.toolCall("CancelEverything", { really: true })
          ]
        })
        const toolkit = yield* Clinic.pipe(Effect.provide(Clinic.toLayer(slots(yield* Ref.make(0)))))
        const reason = yield* reasonOf(
          LanguageModel.generateText({ prompt: "Cancel", toolkit }).pipe(Effect.provide(languageModel(emulator)))
        )
        expect(reason).toMatchObject({
          _tag: "ToolNotFoundError",
          toolName: "CancelEverything",
          availableTools: ["GetSlots"]
        })
        const deferred = yield* LanguageModel.generateText({
          prompt: "Cancel",
          toolkit,
          disableToolCallResolution: true,
          toolCallValidation: "deferred"
        }).pipe(Effect.provide(languageModel(emulator)))
        expect(deferred.toolCalls.map((call) => [call.name, call.params])).toEqual([
          ["CancelEverything", { really: true }]
        ])
      }))

    it.live("a model that keeps calling tools is stopped by Chat's maxSteps", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          respond: () => OpenAiEmulator.toolCall("GetSlots", { day: "tuesday" })
        })
        const calls = yield* Ref.make(0)
        const toolkit = yield* Clinic.pipe(Effect.provide(Clinic.toLayer(slots(calls))))
        const chat = yield* Chat.empty
        const parts = yield* chat.streamText({ prompt: "Tuesday?", toolkit, maxSteps: 3 }).pipe(
          Stream.runCollect,
          Effect.provide(languageModel(emulator))
        )
        expect((yield* emulator.prompts).length).toBe(3)
        expect(yield* Ref.get(calls)).toBe(3)
        expect(parts.filter((part) => part.type === "finish").map((part) => part.reason)).toEqual([
          "tool-calls",
          "tool-calls",
          "tool-calls"
        ])
      }))

    it.live("an empty answer is a response with no text", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ script: [OpenAiEmulator.empty()] })
        const response = yield* LanguageModel.generateText({ prompt: "Hello?" }).pipe(
          Effect.provide(languageModel(emulator))
        )
        expect(response.text).toBe("")
        expect(response.content.map((part) => part.type)).toEqual(["response-metadata", "finish"])
        expect(response.finishReason).toBe("stop")
      }))
  })

  describe("errors, as the client maps them to AiError", () => {
    it.live("401 for a wrong key: AuthenticationError, not retryable, with OpenAI's code and request id", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ script: [OpenAiEmulator.text("never said")] })
        const reason = yield* reasonOf(
          LanguageModel.generateText({ prompt: "Hi" }).pipe(
            Effect.provide(languageModel(emulator, { apiKey: "sk-revoked-0123456789" }))
          )
        )
        expect(reason).toMatchObject({
          _tag: "AuthenticationError",
          kind: "InvalidKey",
          metadata: { "openai-compat": { errorCode: "invalid_api_key", requestId: "req_1" } }
        })
        expect(reason.isRetryable).toBe(false)
        expect(yield* emulator.prompts).toEqual([])
        expect(yield* emulator.remaining).toBe(1)
      }))

    it.live("404 for a model it does not serve: InvalidRequestError with model_not_found", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ models: ["gpt-4.1-mini"] })
        const reason = yield* reasonOf(
          LanguageModel.generateText({ prompt: "Hi" }).pipe(
            Effect.provide(languageModel(emulator, { model: "gpt-5-turbo" }))
          )
        )
        expect(reason).toMatchObject({
          _tag: "InvalidRequestError",
          metadata: { "openai-compat": { errorCode: "model_not_found" } }
        })
        expect(reason.message).toContain("The model `gpt-5-turbo` does not exist")
      }))

    it.live("429: RateLimitError with Retry-After and the rate-limit headers; a used-up quota is not retryable", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [OpenAiEmulator.rateLimited(2), OpenAiEmulator.quotaExceeded]
        })
        const ask = reasonOf(LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(languageModel(emulator))))
        const limited = yield* ask
        expect(limited).toMatchObject({
          _tag: "RateLimitError",
          metadata: { "openai-compat": { errorCode: "rate_limit_exceeded", limit: "3", remaining: 0 } }
        })
        expect(limited.isRetryable).toBe(true)
        expect((limited as AiError.RateLimitError).retryAfter).toEqual(Duration.seconds(2))
        const quota = yield* ask
        expect(quota._tag).toBe("QuotaExhaustedError")
        expect(quota.isRetryable).toBe(false)
      }))

    it.live("500 and 503: InternalProviderError, retryable", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [OpenAiEmulator.serverError(500), OpenAiEmulator.serverError(503)]
        })
        const ask = reasonOf(LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(languageModel(emulator))))
        const first = yield* ask
        expect(first).toMatchObject({
          _tag: "InternalProviderError",
          description: "The server had an error while processing your request. Sorry about that!"
        })
        expect(first.isRetryable).toBe(true)
        expect(yield* ask).toMatchObject({
          _tag: "InternalProviderError",
          description: "The server is overloaded or not ready yet."
        })
      }))

    it.live("400 for a history OpenAI would refuse, or one too long: InvalidRequestError", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ script: [OpenAiEmulator.contextLengthExceeded] })
        // A tool call whose result never made it into the history (a journal that lost a step, say).
        const broken = Prompt.fromMessages([
          Prompt.userMessage({ content: [Prompt.textPart({ text: "Monday?" })] }),
          Prompt.assistantMessage({
            content: [
              Prompt.toolCallPart({
                id: "call_lost",
                name: "GetSlots",
                params: { day: "monday" },
                providerExecuted: false
              })
            ]
          }),
          Prompt.userMessage({ content: [Prompt.textPart({ text: "Hello?" })] })
        ])
        const reason = yield* reasonOf(
          LanguageModel.generateText({ prompt: broken }).pipe(Effect.provide(languageModel(emulator)))
        )
        expect(reason._tag).toBe("InvalidRequestError")
        expect(reason.message).toContain(
          "The following tool_call_ids did not have response messages: call_lost"
        )
        expect(yield* emulator.remaining).toBe(1)
        const tooLong = yield* reasonOf(
          LanguageModel.generateText({ prompt: "A very long history" }).pipe(Effect.provide(languageModel(emulator)))
        )
        expect(tooLong).toMatchObject({
          _tag: "InvalidRequestError",
          metadata: { "openai-compat": { errorCode: "context_length_exceeded" } }
        })
      }))

    it.live("a dropped connection or a server that is down: NetworkError, retryable", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ script: [Faults.drop(), OpenAiEmulator.text("back")] })
        const ask = LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(languageModel(emulator)))
        const dropped = yield* reasonOf(ask)
        expect(dropped._tag).toBe("NetworkError")
        expect(dropped.isRetryable).toBe(true)
        yield* emulator.down
        expect((yield* reasonOf(ask))._tag).toBe("NetworkError")
        yield* emulator.up
        expect((yield* ask).text).toBe("back")
      }))

    it.live("faults come before the script: a 503 fault leaves the scripted turn for the next request", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ script: [OpenAiEmulator.text("Hello")] })
        yield* emulator.faults.next(1, OpenAiEmulator.serverError(503))
        const ask = LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(languageModel(emulator)))
        expect((yield* reasonOf(ask))._tag).toBe("InternalProviderError")
        expect((yield* ask).text).toBe("Hello")
        expect(yield* emulator.faults.applied).toBe(1)
        // With the script used up and no respond function, a request is a 500 that says so.
        expect((yield* reasonOf(ask)).message).toContain("no turn left")
      }))

    it.live("429 retried with a Schedule that waits at least Retry-After", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [OpenAiEmulator.rateLimited(1), OpenAiEmulator.text("Made it.")]
        })
        const backoff: Schedule.Schedule<Duration.Duration, AiError.AiError> = Schedule.exponential("10 millis").pipe(
          Schedule.upTo({ times: 3 })
        )
        const honoringRetryAfter = Schedule.passthrough(backoff).pipe(
          Schedule.modifyDelay(({ duration, input }) =>
            Effect.succeed(input.retryAfter === undefined ? duration : Duration.max(duration, input.retryAfter))
          )
        )
        const start = yield* Clock.currentTimeMillis
        const response = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
          Effect.retry({ schedule: honoringRetryAfter, while: (error) => error.isRetryable }),
          Effect.provide(languageModel(emulator))
        )
        expect(response.text).toBe("Made it.")
        expect((yield* Clock.currentTimeMillis) - start).toBeGreaterThanOrEqual(1000)
        expect((yield* emulator.requests).length).toBe(2)
      }))
  })

  it.effect("a slow answer: a timeout fires under the TestClock, or the answer comes once the clock reaches it", () =>
    Effect.gen(function*() {
      const emulator = yield* OpenAiEmulator.make({
        script: [
          OpenAiEmulator.text("Sorry, I was thinking.", { delay: "1 minute" }),
          OpenAiEmulator.text("Quick enough.", { delay: "10 seconds" })
        ]
      })
      const ask = LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.timeout("30 seconds"),
        Effect.provide(languageModel(emulator))
      )
      const slow = yield* Effect.forkChild(ask)
      yield* emulator.awaitPrompts(1)
      yield* TestClock.adjust("30 seconds")
      const timedOut = yield* Fiber.await(slow)
      expect(Exit.isFailure(timedOut) && Exit.findErrorOption(timedOut)).toMatchObject({
        value: { _tag: "TimeoutError" }
      })

      const quick = yield* Effect.forkChild(ask)
      yield* emulator.awaitPrompts(2)
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(quick)).text).toBe("Quick enough.")
    }))

  describe("streaming", () => {
    it.live("streams text a word at a time, with the usage at the end", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ script: [OpenAiEmulator.text("Hello there, Ada!")] })
        const parts = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
          Stream.runCollect,
          Effect.provide(languageModel(emulator))
        )
        expect(parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])).toEqual([
          "Hello",
          " there,",
          " Ada!"
        ])
        const finish = parts.find((part) => part.type === "finish")!
        expect(finish.reason).toBe("stop")
        expect(finish.usage.outputTokens.total).toBe(5)
        expect((yield* emulator.prompts)[0]).toMatchObject({ stream: true, stream_options: { include_usage: true } })
      }))

    it.live("a slow stream: chunks come an interval apart", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [OpenAiEmulator.text("one two three", { interval: "100 millis" })]
        })
        const arrivals = yield* LanguageModel.streamText({ prompt: "Count" }).pipe(
          Stream.filter((part) => part.type === "text-delta"),
          Stream.mapEffect((part) => Effect.map(Clock.currentTimeMillis, (at) => [part.delta, at] as const)),
          Stream.runCollect,
          Effect.provide(languageModel(emulator))
        )
        expect(arrivals.map(([delta]) => delta)).toEqual(["one", " two", " three"])
        expect(arrivals[2]![1] - arrivals[0]![1]).toBeGreaterThanOrEqual(180)
      }))

    it.live("streams tool calls in pieces, resolved by the toolkit", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [OpenAiEmulator.toolCall("GetSlots", { day: "monday" }, { text: "Let me look." })]
        })
        const toolkit = yield* Clinic.pipe(Effect.provide(Clinic.toLayer(slots(yield* Ref.make(0)))))
        const parts = yield* LanguageModel.streamText({ prompt: "Monday?", toolkit }).pipe(
          Stream.runCollect,
          Effect.provide(languageModel(emulator))
        )
        expect(parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : []).join("")).toBe("Let me look.")
        expect(parts.flatMap((part) => part.type === "tool-params-delta" ? [part.delta] : []).join("")).toBe(
          "{\"day\":\"monday\"}"
        )
        const call = parts.find((part) => part.type === "tool-call")!
        expect([call.id, call.name, call.params]).toEqual(["call_1", "GetSlots", { day: "monday" }])
        const result = parts.find((part) => part.type === "tool-result")!
        expect(result.result).toEqual(["09:00", "11:30"])
        expect(parts.find((part) => part.type === "finish")!.reason).toBe("tool-calls")
      }))
  })

  describe("at the wire", () => {
    const post = (emulator: OpenAiEmulator.OpenAiEmulator, body: unknown, options: {
      readonly path?: string
      readonly key?: string | null
    } = {}) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        let request = HttpClientRequest.post(`${emulator.url}${options.path ?? "/chat/completions"}`).pipe(
          typeof body === "string"
            ? HttpClientRequest.bodyText(body, "application/json")
            : HttpClientRequest.bodyJsonUnsafe(body)
        )
        if (options.key !== null) request = HttpClientRequest.bearerToken(request, options.key ?? emulator.apiKey)
        const response = yield* client.execute(request)
        return { status: response.status, headers: response.headers, text: yield* response.text }
      }).pipe(Effect.orDie, Effect.provide(NodeHttpClient.layerUndici))

    const user = { role: "user", content: "Monday?" }

    it.live("answers a chat completion as OpenAI does", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({
          script: [OpenAiEmulator.toolCall("GetSlots", { day: "monday" }, { id: "call_abc" })]
        })
        const response = yield* post(emulator, { model: "gpt-4o-mini", messages: [user] })
        expect(response.status).toBe(200)
        expect(response.headers["x-request-id"]).toBe("req_1")
        expect(JSON.parse(response.text)).toEqual({
          id: "chatcmpl-1",
          object: "chat.completion",
          created: expect.any(Number),
          model: "gpt-4o-mini",
          service_tier: "default",
          system_fingerprint: "fp_parley_emulator",
          choices: [{
            index: 0,
            message: {
              role: "assistant",
              content: null,
              refusal: null,
              tool_calls: [{
                id: "call_abc",
                type: "function",
                function: { name: "GetSlots", arguments: "{\"day\":\"monday\"}" }
              }],
              annotations: []
            },
            logprobs: null,
            finish_reason: "tool_calls"
          }],
          usage: {
            prompt_tokens: 8,
            completion_tokens: 4,
            total_tokens: 12,
            prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
            completion_tokens_details: {
              reasoning_tokens: 0,
              audio_tokens: 0,
              accepted_prediction_tokens: 0,
              rejected_prediction_tokens: 0
            }
          }
        })
      }))

    it.live("streams chat.completion.chunk events ending in data: [DONE]", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ script: [OpenAiEmulator.text("Hi Ada")] })
        const response = yield* post(emulator, {
          model: "gpt-4o-mini",
          messages: [user],
          stream: true,
          stream_options: { include_usage: true }
        })
        expect(response.headers["content-type"]).toContain("text/event-stream")
        const events = response.text.split("\n\n").filter((event) => event !== "")
        expect(events.every((event) => event.startsWith("data: "))).toBe(true)
        expect(events.at(-1)).toBe("data: [DONE]")
        const chunks = events.slice(0, -1).map((event) => JSON.parse(event.slice("data: ".length)))
        expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk" && chunk.id === "chatcmpl-1")).toBe(
          true
        )
        expect(chunks.map((chunk) => chunk.choices[0]?.delta ?? null)).toEqual([
          { role: "assistant", content: "", refusal: null },
          { content: "Hi" },
          { content: " Ada" },
          {},
          null
        ])
        expect(chunks.map((chunk) => chunk.choices[0]?.finish_reason ?? null)).toEqual([null, null, null, "stop", null])
        expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true)
        expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 2 } })
      }))

    it.live("refuses what OpenAI refuses, without using up a turn", () =>
      Effect.gen(function*() {
        const emulator = yield* OpenAiEmulator.make({ script: [OpenAiEmulator.text("unused")] })
        const refusal = (body: unknown, options?: { readonly path?: string; readonly key?: string | null }) =>
          Effect.map(post(emulator, body, options), (response) => ({
            status: response.status,
            error: JSON.parse(response.text).error
          }))
        const ok = { model: "gpt-4o-mini", messages: [user] }

        expect(yield* refusal(ok, { key: null })).toMatchObject({
          status: 401,
          error: { message: expect.stringContaining("You didn't provide an API key"), type: "invalid_request_error" }
        })
        expect(yield* refusal(ok, { key: "sk-proj-wrong-key-1234" })).toMatchObject({
          status: 401,
          error: {
            message: expect.stringContaining("Incorrect API key provided: sk-***************1234."),
            code: "invalid_api_key"
          }
        })
        expect(yield* refusal({ ...ok, model: "gpt-nope" })).toMatchObject({
          status: 404,
          error: {
            message: "The model `gpt-nope` does not exist or you do not have access to it.",
            code: "model_not_found"
          }
        })
        expect(yield* refusal("{\"model\": ")).toMatchObject({
          status: 400,
          error: { message: expect.stringContaining("We could not parse the JSON body of your request") }
        })
        expect(yield* refusal({ model: "gpt-4o-mini" })).toEqual({
          status: 400,
          error: {
            message: "Missing required parameter: 'messages'.",
            type: "invalid_request_error",
            param: "messages",
            code: "missing_required_parameter"
          }
        })
        expect(yield* refusal({ ...ok, messages: [{ role: "user", content: 42 }] })).toMatchObject({
          status: 400,
          error: {
            message: "Invalid value for 'messages[0].content': Expected string | array, actual 42",
            param: "messages[0].content",
            code: "invalid_value"
          }
        })
        expect(yield* refusal({ ...ok, messages: [{ role: "tool", tool_call_id: "call_1", content: "[]" }] }))
          .toMatchObject({
            status: 400,
            error: {
              message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with " +
                "'tool_calls'.",
              param: "messages.[0].role"
            }
          })
        const call = { id: "call_1", type: "function", function: { name: "GetSlots", arguments: "{}" } }
        expect(
          yield* refusal({
            ...ok,
            messages: [user, { role: "assistant", content: null, tool_calls: [call] }, {
              role: "tool",
              tool_call_id: "call_2",
              content: "[]"
            }]
          })
        ).toMatchObject({
          status: 400,
          error: {
            message: "Invalid parameter: 'tool_call_id' of 'call_2' not found in 'tool_calls' of previous message.",
            param: "messages.[2].tool_call_id"
          }
        })
        expect(
          yield* refusal({
            ...ok,
            tools: [{
              type: "function",
              function: {
                name: "GetSlots",
                parameters: { type: "object", properties: { day: { type: "string" } }, required: ["day"] },
                strict: true
              }
            }]
          })
        ).toMatchObject({
          status: 400,
          error: {
            message:
              "Invalid schema for function 'GetSlots': In context=(), 'additionalProperties' is required to be " +
              "supplied and to be false.",
            param: "tools[0].function.parameters",
            code: "invalid_function_parameters"
          }
        })
        expect(
          yield* refusal({
            ...ok,
            tools: [{
              type: "function",
              function: {
                name: "GetSlots",
                parameters: {
                  type: "object",
                  properties: {
                    when: {
                      type: "object",
                      properties: { day: { type: "string" }, hour: { type: "integer" } },
                      required: ["day"],
                      additionalProperties: false
                    }
                  },
                  required: ["when"],
                  additionalProperties: false
                },
                strict: true
              }
            }]
          })
        ).toMatchObject({
          status: 400,
          error: {
            message: "Invalid schema for function 'GetSlots': In context=('properties', 'when'), 'required' is " +
              "required to be supplied and to be an array including every key in properties. Missing 'hour'."
          }
        })
        expect(yield* refusal({ ...ok, tools: [{ type: "function", function: { name: "get slots" } }] })).toMatchObject(
          {
            status: 400,
            error: { param: "tools[0].function.name", code: "invalid_value" }
          }
        )
        expect(yield* refusal(ok, { path: "/responses" })).toMatchObject({
          status: 404,
          error: { message: "Invalid URL (POST /v1/responses)" }
        })
        expect(yield* emulator.prompts).toEqual([])
        expect(yield* emulator.remaining).toBe(1)
      }))
  })
})
