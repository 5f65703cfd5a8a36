/**
 * A `MessagingService` over several providers that send as the same business number (or numbers the
 * app declares interchangeable). Per send it skips providers that cannot carry the message or whose
 * circuit breaker is open, lets each provider retry by its schedule, and moves on only for errors that
 * say another provider may succeed (`MessagingError.canFailover`).
 *
 * The per-send order is an `ExecutionPlan` built from the providers eligible right now; the breakers
 * give the plan the memory between calls that a plan alone does not have.
 *
 * @since 0.1.0
 */
import type * as Array from "effect/Array"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionPlan from "effect/ExecutionPlan"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Capabilities from "./Capabilities.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as Idempotency from "./Idempotency.js"
import * as internal from "./internal/messagingService.js"
import * as Message from "./Message.js"
import * as MessagingError from "./MessagingError.js"
import * as MessagingService from "./MessagingService.js"
import * as Metrics from "./Metrics.js"
import type { Receipt } from "./Receipt.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How each provider's breaker opens and recovers. */
  readonly breaker?: CircuitBreaker.Options | undefined
  /** How long a receipt answers repeated sends with the same idempotency key (default 24 hours). */
  readonly idempotencyWindow?: MessagingService.Options["idempotencyWindow"]
}

/**
 * A provider in the group, with its breaker.
 *
 * @since 0.1.0
 * @category models
 */
export interface Member {
  readonly service: MessagingService.Service
  readonly breaker: CircuitBreaker.CircuitBreaker
}

/**
 * The members of the failover group in context, in order, to observe their health.
 *
 * @since 0.1.0
 * @category tags
 */
export class Failover extends Context.Service<Failover, {
  readonly members: ReadonlyArray<Member>
}>()("@parley/core/Failover") {}

type Plan = ExecutionPlan.ExecutionPlan<{
  provides: CurrentMember
  input: MessagingError.MessagingError
  error: never
  requirements: never
}>

class CurrentMember extends Context.Service<CurrentMember, Member>()("@parley/core/Failover/CurrentMember") {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  services: Array.NonEmptyReadonlyArray<MessagingService.Service>,
  options: Options = {}
): Effect.Effect<MessagingService.Service & { readonly members: ReadonlyArray<Member> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const members: ReadonlyArray<Member> = yield* Effect.forEach(
      services,
      (service) => Effect.map(CircuitBreaker.make(options.breaker), (breaker) => ({ service, breaker }))
    )
    const provider = `failover(${services.map((s) => s.provider).join(",")})`
    const capabilities = Capabilities.union(services.map((s) => s.capabilities))
    const guard = yield* Idempotency.makeGuard({
      store: yield* internal.idempotencyStore,
      namespace: provider,
      window: options.idempotencyWindow ?? "24 hours"
    })
    const failedOver = new Map<string, Effect.Effect<void>>()
    const countFailover = (kind: string) => {
      let counter = failedOver.get(kind)
      if (counter === undefined) {
        counter = Metric.update(Metrics.tagged(Metrics.failedOver, provider, kind), 1)
        failedOver.set(kind, counter)
      }
      return counter
    }

    const ordered = (prefer: string | undefined): ReadonlyArray<Member> => {
      if (prefer === undefined) return members
      const first = members.filter((m) => m.service.provider === prefer)
      return [...first, ...members.filter((m) => m.service.provider !== prefer)]
    }

    const run = (message: Message.Message, sendOptions: MessagingService.SendOptions | undefined) =>
      Effect.gen(function*() {
        const kind = Message.kind(message)
        const capable = ordered(sendOptions?.preferProvider).filter((m) =>
          Capabilities.supports(m.service.capabilities, message)
        )
        if (capable.length === 0) {
          const feature = Option.getOrElse(Capabilities.missing(capabilities, message), () => `${kind} messages`)
          return yield* new MessagingError.Unsupported({ provider, feature })
        }
        const permitted = yield* Effect.filter(capable, (m) => m.breaker.isCallPermitted)
        if (permitted.length === 0) {
          return yield* new MessagingError.ProviderUnavailable({
            provider,
            reason: `every capable provider's circuit breaker is open (${
              capable.map((m) => m.service.provider).join(", ")
            })`
          })
        }
        const log: Array<string> = []
        const attempt = CurrentMember.use(({ breaker, service }) =>
          breaker.protect(service.send(message, sendOptions), MessagingError.isProviderFault).pipe(
            Effect.catchTag(
              "CircuitOpen",
              () =>
                Effect.fail(
                  new MessagingError.ProviderUnavailable({ provider: service.provider, reason: "circuit breaker open" })
                )
            ),
            Effect.tap(() => Effect.sync(() => log.push(`${service.provider}:ok`))),
            Effect.tapError((error) => Effect.sync(() => log.push(`${service.provider}:${error._tag}`)))
          )
        )
        const failover = (error: MessagingError.MessagingError) =>
          MessagingError.canFailover(error)
            ? Effect.as(countFailover(kind), true)
            : Effect.succeed(false)
        const [first, ...rest] = permitted.map((member) => Context.make(CurrentMember, member))
        // `make` infers precise types from a literal tuple; steps built at run time need the type stated.
        const plan = ExecutionPlan.make(
          { provide: first! },
          ...rest.map((provide) => ({ provide, while: failover }))
        ) as unknown as Plan
        return yield* Effect.withExecutionPlan(attempt, plan).pipe(
          Effect.ensuring(Effect.suspend(() => Effect.annotateCurrentSpan("parley.failover.attempts", log.join(" "))))
        )
      })

    const send = Effect.fn("Failover.send")(
      function*(message: Message.Message, sendOptions?: MessagingService.SendOptions) {
        yield* Effect.annotateCurrentSpan({ "parley.provider": provider, "parley.kind": Message.kind(message) })
        const valid = Message.validate(message, provider)
        if (Result.isFailure(valid)) return yield* valid.failure
        const key = sendOptions?.idempotencyKey
        const receipt: Receipt = yield* key === undefined
          ? run(message, sendOptions)
          : guard.run(key, run(message, sendOptions))
        return receipt
      }
    )

    return { provider, capabilities, send, members }
  })

/**
 * A failover group from provider layers, tried in the order given. Also provides {@link Failover} to
 * observe each member's breaker.
 *
 * @example
 * ```ts
 * const Messaging = Failover.layer([Multisession.layer(primary), Wawp.layer(secondary)], {
 *   breaker: { consecutiveFailures: 5, cooldown: "30 seconds" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  layers: Array.NonEmptyReadonlyArray<Layer.Layer<MessagingService.MessagingService, E, R>>,
  options: Options = {}
): Layer.Layer<MessagingService.MessagingService | Failover, E, R> =>
  Layer.effectContext(Effect.gen(function*() {
    const [head, ...tail] = yield* Effect.forEach(
      layers,
      (layer) => Effect.map(Layer.build(layer), Context.get(MessagingService.MessagingService))
    )
    const service = yield* make([head!, ...tail], options)
    return Context.make(MessagingService.MessagingService, service).pipe(
      Context.add(Failover, { members: service.members })
    )
  }))
