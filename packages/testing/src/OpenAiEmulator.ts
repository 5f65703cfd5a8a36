/**
 * A local OpenAI-compatible model server for tests: `POST /v1/chat/completions` (the one endpoint
 * `@effect/ai-openai-compat`'s `LanguageModel` calls), answered as JSON or, when the request asks to
 * stream, as server-sent `chat.completion.chunk` events ending in `data: [DONE]`, with the shapes
 * OpenAI documents: assistant messages with `tool_calls`, `finish_reason`, token `usage` (with
 * `stream_options.include_usage` when streaming), and errors as `{ error: { message, type, param, code } }`.
 *
 * What the model says is scripted: a test gives the turns, one per request, in order ({@link text},
 * {@link toolCalls} (arguments may be malformed JSON, the tool unknown), {@link empty}, an error such as
 * {@link rateLimited} with `Retry-After`, a `delay` for a slow answer), and may give a function of the
 * request ({@link Respond}) for dynamic answers once the script is used up. The server checks what
 * OpenAI checks before it answers: the bearer key (401), the model (404 `model_not_found`), the body
 * (400), that every tool call in the history is answered by a `tool` message and every `tool` message
 * answers one, and that strict tools' parameter schemas are what strict mode accepts. The requests
 * the model answered are kept, decoded ({@link OpenAiEmulator.prompts}), so a test can assert what the
 * model saw: the system prompt, the history, the tool results.
 *
 * Like every Parley emulator it is a real HTTP server on a free loopback port for the life of a
 * scope, with every request recorded, `Faults` in front of it, and a switch to take it down.
 *
 * @example
 * ```ts
 * const emulator = yield* OpenAiEmulator.make({
 *   script: [
 *     OpenAiEmulator.toolCall("GetWeather", { city: "Utrecht" }),
 *     OpenAiEmulator.text("Sunny in Utrecht.")
 *   ]
 * })
 * const client = OpenAiClient.layer({ apiUrl: emulator.url, apiKey: Redacted.make(emulator.apiKey) })
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Sse from "effect/encoding/Sse"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Emulator from "./Emulator.js"
import * as Faults from "./Faults.js"

// =============================================================================
// The request
// =============================================================================

const TextPart = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })

const ImagePart = Schema.Struct({
  type: Schema.Literal("image_url"),
  image_url: Schema.Struct({
    url: Schema.String,
    detail: Schema.optional(Schema.Literals(["auto", "low", "high"]))
  })
})

const Content = Schema.Union([Schema.String, Schema.Array(Schema.Union([TextPart, ImagePart]))])

/**
 * A tool call in an assistant message of the history.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("function"),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

/**
 * A message of a chat completion request: `system` (or `developer`, as OpenAI's reasoning models
 * name it), `user`, `assistant` (text and/or tool calls) or `tool` (the result of one tool call).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatMessage = Schema.Union([
  Schema.Struct({ role: Schema.Literal("system"), content: Content, name: Schema.optional(Schema.String) }),
  Schema.Struct({ role: Schema.Literal("developer"), content: Content, name: Schema.optional(Schema.String) }),
  Schema.Struct({ role: Schema.Literal("user"), content: Content, name: Schema.optional(Schema.String) }),
  Schema.Struct({
    role: Schema.Literal("assistant"),
    content: Schema.optional(Schema.NullOr(Content)),
    tool_calls: Schema.optional(Schema.Array(RequestToolCall)),
    name: Schema.optional(Schema.String),
    refusal: Schema.optional(Schema.NullOr(Schema.String)),
    reasoning_content: Schema.optional(Schema.String),
    reasoning: Schema.optional(Schema.String)
  }),
  Schema.Struct({ role: Schema.Literal("tool"), tool_call_id: Schema.String, content: Content })
])

/**
 * @since 0.1.0
 * @category models
 */
export type ChatMessage = typeof ChatMessage.Type

/**
 * A function the model may call, as the request declares it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FunctionTool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String.check(Schema.isPattern(/^[a-zA-Z0-9_-]{1,64}$/)),
    description: Schema.optional(Schema.NullOr(Schema.String)),
    parameters: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
    strict: Schema.optional(Schema.NullOr(Schema.Boolean))
  })
})

/**
 * The body of `POST /v1/chat/completions`, as far as the emulator reads it (other fields are accepted
 * and ignored; {@link OpenAiEmulator.requests} has the body as sent).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.NonEmptyArray(ChatMessage),
  tools: Schema.optional(Schema.Array(FunctionTool)),
  tool_choice: Schema.optional(Schema.Union([
    Schema.Literals(["none", "auto", "required"]),
    Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) })
  ])),
  parallel_tool_calls: Schema.optional(Schema.NullOr(Schema.Boolean)),
  response_format: Schema.optional(Schema.Unknown),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({
    include_usage: Schema.optional(Schema.NullOr(Schema.Boolean))
  }))),
  temperature: Schema.optional(Schema.NullOr(Schema.Number)),
  top_p: Schema.optional(Schema.NullOr(Schema.Number)),
  max_tokens: Schema.optional(Schema.NullOr(Schema.Int)),
  max_completion_tokens: Schema.optional(Schema.NullOr(Schema.Int)),
  seed: Schema.optional(Schema.NullOr(Schema.Int)),
  user: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * A chat completion request the model answered.
 *
 * @since 0.1.0
 * @category models
 */
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type

/**
 * The text of a message's content (parts other than text left out).
 *
 * @since 0.1.0
 * @category accessors
 */
export const contentText = (content: ChatMessage["content"]): string =>
  content === undefined || content === null
    ? ""
    : typeof content === "string"
    ? content
    : content.map((part) => (part.type === "text" ? part.text : "")).join("")

/**
 * The text of the last `user` message of a request ("" if there is none), for dynamic answers.
 *
 * @since 0.1.0
 * @category accessors
 */
export const lastUserText = (request: ChatCompletionRequest): string => {
  const user = request.messages.findLast((message) => message.role === "user")
  return user === undefined ? "" : contentText(user.content)
}

// =============================================================================
// Turns
// =============================================================================

/**
 * A tool call the model makes. `arguments` is sent as its JSON, or, given as a string, as it is (so a
 * test can send malformed JSON).
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  /** The call's id (default `call_<n>`, numbered by the emulator). */
  readonly id?: string | undefined
  readonly name: string
  readonly arguments: Readonly<Record<string, unknown>> | string
}

/**
 * Why the model stopped.
 *
 * @since 0.1.0
 * @category models
 */
export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter"

/**
 * Token counts to report instead of the emulator's estimate (about four characters a token).
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly promptTokens?: number | undefined
  readonly completionTokens?: number | undefined
  /** Of the prompt tokens, how many were read from the provider's cache (default 0). */
  readonly cachedTokens?: number | undefined
  /** Of the completion tokens, how many the model spent reasoning (default 0). */
  readonly reasoningTokens?: number | undefined
}

/**
 * One answer of the model: text, tool calls, or both.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reply {
  readonly _tag: "Reply"
  /** The assistant message's `content`: `null` when it only calls tools, `""` when empty. */
  readonly content: string | null
  readonly toolCalls: ReadonlyArray<ToolCall>
  /** Default: `tool_calls` when there are tool calls, else `stop`. */
  readonly finishReason: FinishReason | undefined
  readonly usage: Usage | undefined
  /** How long the model thinks before it answers (the response starts after it). */
  readonly delay: Duration.Duration | undefined
  /** When streaming, the pause between chunks. */
  readonly interval: Duration.Duration | undefined
}

/**
 * What one request gets: a {@link Reply}, or a fault (an error answer such as {@link rateLimited} or
 * any `Faults.respond`, `Faults.drop()` to drop the connection, or `Faults.delay(d)` to wait `d` and
 * then answer with the next turn).
 *
 * @since 0.1.0
 * @category models
 */
export type Turn = Reply | Faults.Fault

/**
 * A model written as a function of the request, for answers that depend on what was asked. It
 * answers once the script is used up.
 *
 * @since 0.1.0
 * @category models
 */
export type Respond = (request: ChatCompletionRequest) => Turn | Effect.Effect<Turn>

/**
 * @since 0.1.0
 * @category models
 */
export interface ReplyOptions {
  readonly finishReason?: FinishReason | undefined
  readonly usage?: Usage | undefined
  readonly delay?: Duration.Input | undefined
  readonly interval?: Duration.Input | undefined
}

const reply = (
  content: string | null,
  toolCalls: ReadonlyArray<ToolCall>,
  options: ReplyOptions | undefined
): Reply => ({
  _tag: "Reply",
  content,
  toolCalls,
  finishReason: options?.finishReason,
  usage: options?.usage,
  delay: options?.delay === undefined ? undefined : Duration.fromInputUnsafe(options.delay),
  interval: options?.interval === undefined ? undefined : Duration.fromInputUnsafe(options.interval)
})

/**
 * The model answers with text.
 *
 * @since 0.1.0
 * @category turns
 */
export const text = (content: string, options?: ReplyOptions): Reply => reply(content, [], options)

/**
 * The model calls tools (several at once if given several), with `text` alongside if given.
 *
 * @since 0.1.0
 * @category turns
 */
export const toolCalls = (
  calls: ReadonlyArray<ToolCall>,
  options?: ReplyOptions & { readonly text?: string | undefined }
): Reply => reply(options?.text ?? null, calls, options)

/**
 * The model calls one tool (with `text` alongside if given).
 *
 * @since 0.1.0
 * @category turns
 */
export const toolCall = (
  name: string,
  args: Readonly<Record<string, unknown>> | string,
  options?: ReplyOptions & { readonly id?: string | undefined; readonly text?: string | undefined }
): Reply => reply(options?.text ?? null, [{ id: options?.id, name, arguments: args }], options)

/**
 * The model answers with nothing: `content: ""`, `finish_reason: "stop"`.
 *
 * @since 0.1.0
 * @category turns
 */
export const empty = (options?: ReplyOptions): Reply => reply("", [], options)

/**
 * An OpenAI error body.
 *
 * @since 0.1.0
 * @category errors
 */
export const errorBody = (
  message: string,
  options: { readonly type?: string; readonly param?: string | null; readonly code?: string | null } = {}
) => ({
  error: {
    message,
    type: options.type ?? "invalid_request_error",
    param: options.param ?? null,
    code: options.code ?? null
  }
})

/**
 * A 429 for too many requests, with `Retry-After` in seconds (or an HTTP date) when given, and the
 * `x-ratelimit-*` headers OpenAI sends.
 *
 * @since 0.1.0
 * @category errors
 */
export const rateLimited = (retryAfter?: number | string): Faults.Fault =>
  Faults.respond(
    429,
    errorBody(
      "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1." +
        (typeof retryAfter === "number" ? ` Please try again in ${retryAfter}s.` : ""),
      { type: "requests", code: "rate_limit_exceeded" }
    ),
    {
      "x-ratelimit-limit-requests": "3",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": `${typeof retryAfter === "number" ? retryAfter : 20}s`,
      ...(retryAfter === undefined ? {} : { "retry-after": String(retryAfter) })
    }
  )

/**
 * A 429 for a used-up quota (retrying does not help).
 *
 * @since 0.1.0
 * @category errors
 */
export const quotaExceeded: Faults.Fault = Faults.respond(
  429,
  errorBody("You exceeded your current quota, please check your plan and billing details.", {
    type: "insufficient_quota",
    code: "insufficient_quota"
  })
)

/**
 * A server error: 500 ("The server had an error while processing your request") or 503 (overloaded).
 *
 * @since 0.1.0
 * @category errors
 */
export const serverError = (status: 500 | 502 | 503 = 500): Faults.Fault =>
  Faults.respond(
    status,
    errorBody(
      status === 503
        ? "The server is overloaded or not ready yet."
        : "The server had an error while processing your request. Sorry about that!",
      { type: "server_error" }
    )
  )

/**
 * A 401 as for a revoked key.
 *
 * @since 0.1.0
 * @category errors
 */
export const invalidApiKey: Faults.Fault = Faults.respond(
  401,
  errorBody("Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", {
    code: "invalid_api_key"
  })
)

/**
 * A 400 for a history longer than the model's context window.
 *
 * @since 0.1.0
 * @category errors
 */
export const contextLengthExceeded: Faults.Fault = Faults.respond(
  400,
  errorBody(
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. " +
      "Please reduce the length of the messages.",
    { param: "messages", code: "context_length_exceeded" }
  )
)

// =============================================================================
// The emulator
// =============================================================================

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The key clients must present as `Authorization: Bearer` (default {@link defaultApiKey}). */
  readonly apiKey?: string | undefined
  /** The models it serves (default `[defaultModel]`); others are a 404 `model_not_found`. */
  readonly models?: ReadonlyArray<string> | undefined
  /** The first turns, one per request, in order. */
  readonly script?: ReadonlyArray<Turn> | undefined
  /** How to answer once the script is used up (without it, such a request is a 500 saying so). */
  readonly respond?: Respond | undefined
  readonly port?: number | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultApiKey = "sk-parley-emulator-key"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultModel = "gpt-4o-mini"

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenAiEmulator {
  /** The base URL (ending in `/v1`), for `OpenAiClient.layer({ apiUrl })`. */
  readonly url: string
  readonly apiKey: string
  /** The first model it serves. */
  readonly model: string
  readonly server: Emulator.Server
  /** Faults applied to any request before the emulator looks at it. */
  readonly faults: Faults.Faults
  /** Every HTTP request, as sent. */
  readonly requests: Effect.Effect<ReadonlyArray<Emulator.RecordedRequest>>
  /** The chat completion requests the model answered (accepted, then given a turn), decoded, in order. */
  readonly prompts: Effect.Effect<ReadonlyArray<ChatCompletionRequest>>
  /** Waits until the model has been given `count` requests in all (it may still be thinking). */
  readonly awaitPrompts: (count: number) => Effect.Effect<void>
  /** Adds turns to the end of the script. */
  readonly script: (...turns: ReadonlyArray<Turn>) => Effect.Effect<void>
  /** How many scripted turns are left. */
  readonly remaining: Effect.Effect<number>
  /** Sets (or, with `undefined`, removes) the function that answers once the script is used up. */
  readonly respondWith: (respond: Respond | undefined) => Effect.Effect<void>
  /** Stops listening: new connections are refused until {@link up}. */
  readonly down: Effect.Effect<void>
  readonly up: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const OpenAiEmulator = Context.Service<OpenAiEmulator>("@parley/testing/OpenAiEmulator")

const reject = (status: number, body: unknown, headers?: Record<string, string>) =>
  new Emulator.Reject({ status, body, headers })

const invalidRequest = (message: string, param: string | null, code: string | null = null) =>
  reject(400, errorBody(message, { param, code }))

// `messages[0].content`, as OpenAI writes a parameter's path.
const formatPath = (path: ReadonlyArray<PropertyKey>) =>
  path.reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`),
    ""
  )

const describeInvalid = (
  _reason: string,
  problem?: { readonly path: ReadonlyArray<PropertyKey>; readonly message: string }
) => {
  if (problem === undefined) {
    return errorBody(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP " +
        "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
    )
  }
  const param = formatPath(problem.path)
  return problem.message === "is missing"
    ? errorBody(`Missing required parameter: '${param}'.`, { param, code: "missing_required_parameter" })
    : errorBody(`Invalid value for '${param}': ${problem.message}`, { param, code: "invalid_value" })
}

const maskKey = (key: string) =>
  key.length <= 8 ? "*".repeat(key.length) : `${key.slice(0, 3)}${"*".repeat(key.length - 7)}${key.slice(-4)}`

// What OpenAI checks of a history: each assistant message's tool calls are answered, each by one
// `tool` message, before the next message of another role; and a `tool` message answers a call.
const checkToolMessages = (messages: ReadonlyArray<ChatMessage>): Emulator.Reject | undefined => {
  let open: { readonly index: number; readonly ids: Set<string> } | undefined
  const unanswered = (index: number, ids: Set<string>) =>
    invalidRequest(
      "An assistant message with 'tool_calls' must be followed by tool messages responding to each " +
        `'tool_call_id'. The following tool_call_ids did not have response messages: ${[...ids].join(", ")}`,
      `messages.[${index}].role`
    )
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!
    if (message.role === "tool") {
      if (open === undefined) {
        return invalidRequest(
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${index}].role`
        )
      }
      if (!open.ids.delete(message.tool_call_id)) {
        return invalidRequest(
          `Invalid parameter: 'tool_call_id' of '${message.tool_call_id}' not found in 'tool_calls' of previous message.`,
          `messages.[${index}].tool_call_id`
        )
      }
      continue
    }
    if (open !== undefined && open.ids.size > 0) return unanswered(open.index, open.ids)
    open = message.role === "assistant" && message.tool_calls !== undefined && message.tool_calls.length > 0
      ? { index, ids: new Set(message.tool_calls.map((call) => call.id)) }
      : undefined
  }
  return open !== undefined && open.ids.size > 0 ? unanswered(open.index, open.ids) : undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

// Python's tuple repr, as OpenAI's messages show a schema path: `()`, `('items',)`, `('properties', 'a')`.
const context = (path: ReadonlyArray<string>) =>
  `context=(${path.map((key) => `'${key}'`).join(", ")}${path.length === 1 ? "," : ""})`

// The first thing strict mode refuses in a parameters schema: an object that allows other properties,
// or does not require all of its own.
const strictProblem = (schema: unknown, path: ReadonlyArray<string>): string | undefined => {
  if (!isRecord(schema)) return undefined
  const type = schema.type
  const isObject = type === "object" || (Array.isArray(type) && type.includes("object"))
  if (isObject) {
    if (schema.additionalProperties !== false) {
      return `In ${context(path)}, 'additionalProperties' is required to be supplied and to be false.`
    }
    const properties = isRecord(schema.properties) ? Object.keys(schema.properties) : []
    const required = Array.isArray(schema.required) ? schema.required : []
    const missing = properties.find((key) => !required.includes(key))
    if (missing !== undefined) {
      return `In ${context(path)}, 'required' is required to be supplied and to be an array including every key ` +
        `in properties. Missing '${missing}'.`
    }
  }
  const children: Array<readonly [unknown, ReadonlyArray<string>]> = []
  for (const key of ["properties", "$defs", "definitions"] as const) {
    const record = schema[key]
    if (isRecord(record)) {
      for (const [name, child] of Object.entries(record)) children.push([child, [...path, key, name]])
    }
  }
  if (schema.items !== undefined) children.push([schema.items, [...path, "items"]])
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    const list = schema[key]
    if (Array.isArray(list)) list.forEach((child, i) => children.push([child, [...path, key, String(i)]]))
  }
  for (const [child, childPath] of children) {
    const problem = strictProblem(child, childPath)
    if (problem !== undefined) return problem
  }
  return undefined
}

const checkTools = (tools: ChatCompletionRequest["tools"]): Emulator.Reject | undefined => {
  if (tools === undefined) return undefined
  for (let index = 0; index < tools.length; index++) {
    const tool = tools[index]!.function
    if (tool.strict !== true || tool.parameters === undefined) continue
    const problem = strictProblem(tool.parameters, [])
    if (problem !== undefined) {
      return invalidRequest(
        `Invalid schema for function '${tool.name}': ${problem}`,
        `tools[${index}].function.parameters`,
        "invalid_function_parameters"
      )
    }
  }
  return undefined
}

// About four characters a token, as OpenAI's rule of thumb has it; 3 tokens of framing per message.
const tokens = (text: string) => Math.ceil(text.length / 4)

const promptTokens = (request: ChatCompletionRequest) => {
  let count = 3
  for (const message of request.messages) {
    count += 3 + tokens(contentText(message.content))
    if (message.role === "assistant" && message.tool_calls !== undefined) {
      for (const call of message.tool_calls) count += tokens(call.function.name) + tokens(call.function.arguments)
    }
  }
  if (request.tools !== undefined) count += tokens(JSON.stringify(request.tools))
  return count
}

interface WireToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

// Streamed text comes a word at a time (with the whitespace before it); arguments in pieces.
const words = (text: string): ReadonlyArray<string> => text.match(/\s*\S+|\s+$/g) ?? []
const pieces = (text: string, size = 12): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

/**
 * Starts the emulator on a free loopback port (or `port`) for the life of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<OpenAiEmulator, never, Scope.Scope> =>
  Effect.gen(function*() {
    const apiKey = options.apiKey ?? defaultApiKey
    const models = options.models ?? [defaultModel]
    const script: Array<Turn> = [...(options.script ?? [])]
    let respond = options.respond
    const prompts: Array<ChatCompletionRequest> = []
    const promptCount = yield* SubscriptionRef.make(0)
    // Separate counters, so a test can predict ids: `req_1`, `chatcmpl-1`, `call_1`, ...
    const counters = { request: 0, completion: 0, call: 0 }

    const nextTurn = (request: ChatCompletionRequest): Effect.Effect<Turn> =>
      Effect.suspend(() => {
        const turn = script.shift()
        if (turn !== undefined) return Effect.succeed(turn)
        if (respond === undefined) {
          return Effect.succeed(Faults.respond(
            500,
            errorBody(
              `OpenAiEmulator: no turn left for request ${prompts.length} (the script is used up and there is no ` +
                "respond function)",
              { type: "server_error", code: "script_exhausted" }
            )
          ))
        }
        const answer = respond(request)
        return Effect.isEffect(answer) ? answer : Effect.succeed(answer)
      })

    const usageOf = (request: ChatCompletionRequest, turn: Reply, calls: ReadonlyArray<WireToolCall>) => {
      const prompt = turn.usage?.promptTokens ?? promptTokens(request)
      const completion = turn.usage?.completionTokens ??
        Math.max(
          1,
          tokens(turn.content ?? "") + calls.reduce((n, call) => n + tokens(call.function.arguments), 0)
        )
      return {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: { cached_tokens: turn.usage?.cachedTokens ?? 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: turn.usage?.reasoningTokens ?? 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0
        }
      }
    }

    const answerReply = (request: ChatCompletionRequest, turn: Reply, requestId: string) =>
      Effect.gen(function*() {
        if (turn.delay !== undefined) yield* Effect.sleep(turn.delay)
        const id = `chatcmpl-${++counters.completion}`
        const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        const calls: ReadonlyArray<WireToolCall> = turn.toolCalls.map((call) => ({
          id: call.id ?? `call_${++counters.call}`,
          type: "function",
          function: {
            name: call.name,
            arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments)
          }
        }))
        const finishReason = turn.finishReason ?? (calls.length > 0 ? "tool_calls" : "stop")
        const usage = usageOf(request, turn, calls)
        const common = {
          id,
          created,
          model: request.model,
          service_tier: "default",
          system_fingerprint: "fp_parley_emulator"
        }
        const headers = { "x-request-id": requestId, "openai-processing-ms": "1" }

        if (request.stream !== true) {
          return HttpServerResponse.jsonUnsafe({
            ...common,
            object: "chat.completion",
            choices: [{
              index: 0,
              message: {
                role: "assistant",
                content: turn.content,
                refusal: null,
                ...(calls.length > 0 ? { tool_calls: calls } : {}),
                annotations: []
              },
              logprobs: null,
              finish_reason: finishReason
            }],
            usage
          }, { headers })
        }

        const includeUsage = request.stream_options?.include_usage === true
        const chunk = (choices: ReadonlyArray<unknown>, chunkUsage: unknown = null) => ({
          ...common,
          object: "chat.completion.chunk",
          choices,
          ...(includeUsage ? { usage: chunkUsage } : {})
        })
        const delta = (value: unknown, finish: FinishReason | null = null) =>
          chunk([{ index: 0, delta: value, logprobs: null, finish_reason: finish }])
        const events: Array<unknown> = [
          delta({ role: "assistant", content: turn.content === null ? null : "", refusal: null })
        ]
        for (const word of words(turn.content ?? "")) events.push(delta({ content: word }))
        calls.forEach((call, index) => {
          events.push(delta({
            tool_calls: [{
              index,
              id: call.id,
              type: "function",
              function: { name: call.function.name, arguments: "" }
            }]
          }))
          for (const piece of pieces(call.function.arguments)) {
            events.push(delta({ tool_calls: [{ index, function: { arguments: piece } }] }))
          }
        })
        events.push(delta({}, finishReason))
        if (includeUsage) events.push(chunk([], usage))
        const data = [...events.map((event) => JSON.stringify(event)), "[DONE]"]
        const body = Stream.fromIterable(data).pipe(
          turn.interval === undefined ? (s) => s : Stream.schedule(Schedule.spaced(turn.interval)),
          Stream.map((line) => Sse.encoder.write({ _tag: "Event", event: "message", id: undefined, data: line })),
          Stream.encodeText
        )
        return HttpServerResponse.stream(body, {
          contentType: "text/event-stream",
          headers: { ...headers, "cache-control": "no-cache" }
        })
      })

    const answer = (
      request: ChatCompletionRequest,
      turn: Turn,
      requestId: string
    ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> =>
      turn._tag === "Reply"
        ? answerReply(request, turn, requestId)
        : Emulator.applyFault(
          turn._tag === "Respond" ? { ...turn, headers: { "x-request-id": requestId, ...turn.headers } } : turn,
          Effect.flatMap(nextTurn(request), (next) => answer(request, next, requestId))
        )

    const completions = Emulator.handle(Effect.gen(function*() {
      const requestId = `req_${++counters.request}`
      const given = yield* Emulator.bearerToken
      if (Option.isNone(given)) {
        return yield* reject(
          401,
          errorBody(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using " +
              "Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from " +
              "https://platform.openai.com/account/api-keys."
          ),
          { "x-request-id": requestId }
        )
      }
      if (given.value !== apiKey) {
        return yield* reject(
          401,
          errorBody(
            `Incorrect API key provided: ${maskKey(given.value)}. You can find your API key at ` +
              "https://platform.openai.com/account/api-keys.",
            { code: "invalid_api_key" }
          ),
          { "x-request-id": requestId }
        )
      }
      const request = yield* Emulator.decodeJson(ChatCompletionRequest, describeInvalid)
      if (!models.includes(request.model)) {
        return yield* reject(
          404,
          errorBody(`The model \`${request.model}\` does not exist or you do not have access to it.`, {
            code: "model_not_found"
          }),
          { "x-request-id": requestId }
        )
      }
      const invalid = checkToolMessages(request.messages) ?? checkTools(request.tools)
      if (invalid !== undefined) return yield* invalid
      prompts.push(request)
      yield* SubscriptionRef.update(promptCount, (n) => n + 1)
      return yield* answer(request, yield* nextTurn(request), requestId)
    }))

    const router = yield* Emulator.router([HttpRouter.route("POST", "/v1/chat/completions", completions)])
    const app = Effect.catchTag(router, "HttpServerError", (error) =>
      error.reason._tag === "RouteNotFound"
        ? Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
          HttpServerResponse.jsonUnsafe(
            errorBody(`Invalid URL (${request.method} ${new URL(request.url, "http://localhost").pathname})`),
            { status: 404 }
          ))
        : Effect.fail(error))

    const faults = yield* Faults.make
    const server = yield* Emulator.serve({ app, faults, port: options.port })

    return {
      url: `${server.url}/v1`,
      apiKey,
      model: models[0] ?? defaultModel,
      server,
      faults,
      requests: server.requests,
      prompts: Effect.sync(() => [...prompts]),
      awaitPrompts: (count) =>
        SubscriptionRef.changes(promptCount).pipe(
          Stream.filter((n) => n >= count),
          Stream.runHead,
          Effect.asVoid
        ),
      script: (...turns) => Effect.sync(() => void script.push(...turns)),
      remaining: Effect.sync(() => script.length),
      respondWith: (next) => Effect.sync(() => void (respond = next)),
      down: server.down,
      up: server.up
    }
  })

/**
 * The emulator as a layer, started when the layer is built. One layer provided twice is built once
 * (Effect memoizes layers): wrap it in `Layer.fresh` for a second emulator.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<OpenAiEmulator> => Layer.effect(OpenAiEmulator, make(options))
