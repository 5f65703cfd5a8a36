/**
 * How a provider package turns its driver into what bot authors use: `make`, `layer(options)` and
 * `layerConfig(config?)`, the same for every provider. The package writes the driver (one request per
 * message, over an `HttpTransport`) and the `Config` of its options; {@link define} does the rest, with
 * `MessagingService.make`'s validation, capability checks, idempotency, rate limit, retries, spans and
 * metrics.
 *
 * @example
 * ```ts
 * const kit = Provider.define({ driver, config })
 * export const make = kit.make
 * export const layer = kit.layer
 * export const layerConfig = kit.layerConfig
 * ```
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Message from "./Message.js"
import * as MessagingService from "./MessagingService.js"

/**
 * What a provider package supplies.
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition<Options extends MessagingService.Options, K extends Message.Kind> {
  /** The driver for these options, over the `HttpClient` in context. */
  readonly driver: (options: Options) => Effect.Effect<MessagingService.Driver<K>, never, HttpClient.HttpClient>
  /** The options as `layerConfig` reads them by default (`PARLEY_<NAME>_*`). */
  readonly config: Config.Config<Options>
}

/**
 * What {@link define} gives a provider package to export.
 *
 * @since 0.1.0
 * @category models
 */
export interface Kit<Options extends MessagingService.Options> {
  /** The service over an `HttpClient`. */
  readonly make: (
    options: Options
  ) => Effect.Effect<MessagingService.Service, never, HttpClient.HttpClient | Scope.Scope>
  readonly layer: (options: Options) => Layer.Layer<MessagingService.MessagingService, never, HttpClient.HttpClient>
  /** The layer, with options from `Config` (by default the provider's own). */
  readonly layerConfig: (
    options?: Config.Config<Options>
  ) => Layer.Layer<MessagingService.MessagingService, Config.ConfigError, HttpClient.HttpClient>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const define = <Options extends MessagingService.Options, K extends Message.Kind>(
  definition: Definition<Options, K>
): Kit<Options> => {
  const make = (options: Options) =>
    Effect.flatMap(definition.driver(options), (driver) => MessagingService.make(driver, options))
  const layer = (options: Options) => Layer.effect(MessagingService.MessagingService, make(options))
  const layerConfig = (options: Config.Config<Options> = definition.config) => Layer.unwrap(Effect.map(options, layer))
  return { make, layer, layerConfig }
}
