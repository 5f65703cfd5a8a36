/**
 * The parts of Meta's WhatsApp Cloud API wire format that Cloud API resellers relay as they are (its
 * errors are in `MetaError`): the send answer, and templates (`template: { name, language, components
 * }`) with a header component for the header media and a body component with one text parameter per
 * variable.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type * as Message from "./Message.js"

/**
 * An http(s) URL the provider fetches media from.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Link = Schema.String.check(
  Schema.makeFilter((s) => /^https?:\/\/[^\s/]+/i.test(s) || "must be an http(s) URL")
)

/**
 * A text parameter; `parameter_name` is for templates with named variables.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextParameter = Schema.Struct({
  type: Schema.Literal("text"),
  text: Schema.String,
  parameter_name: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const ImageParameter = Schema.Struct({
  type: Schema.Literal("image"),
  image: Schema.Struct({ link: Link })
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const VideoParameter = Schema.Struct({
  type: Schema.Literal("video"),
  video: Schema.Struct({ link: Link })
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const DocumentParameter = Schema.Struct({
  type: Schema.Literal("document"),
  document: Schema.Struct({ link: Link, filename: Schema.optional(Schema.String) })
})

/**
 * A template parameter.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Parameter = Schema.Union([TextParameter, ImageParameter, VideoParameter, DocumentParameter])

/**
 * @since 0.1.0
 * @category schemas
 */
export type Parameter = typeof Parameter.Type

/**
 * A template component: the header (media), the body (`{{1}}`, `{{2}}`, … in order) or a button.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Component = Schema.Struct({
  type: Schema.Literals(["header", "body", "button"]),
  sub_type: Schema.optional(Schema.String),
  index: Schema.optional(Schema.Union([Schema.String, Schema.Number])),
  parameters: Schema.Array(Parameter)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type Component = typeof Component.Type

const headerParameter = (media: NonNullable<Message.TemplateMessage["headerMedia"]>): Parameter => {
  switch (media.kind) {
    case "image":
      return { type: "image", image: { link: media.url } }
    case "video":
      return { type: "video", video: { link: media.url } }
    case "document":
      return {
        type: "document",
        document: media.filename === undefined ? { link: media.url } : { link: media.url, filename: media.filename }
      }
  }
}

/**
 * The components of a template message: a header component for `headerMedia`, a body component with
 * one text parameter per variable; none for a template without either.
 *
 * @since 0.1.0
 * @category constructors
 */
export const components = (message: Message.TemplateMessage): Array<Component> => [
  ...(message.headerMedia === undefined ? [] : [{
    type: "header" as const,
    parameters: [headerParameter(message.headerMedia)]
  }]),
  ...(message.variables.length === 0 ? [] : [{
    type: "body" as const,
    parameters: message.variables.map((text) => ({ type: "text" as const, text }))
  }])
]

/**
 * The answer to a send: acceptance only, not delivery. `message_status` is `accepted`, or
 * `held_for_quality_assessment` for a marketing template held back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SendResponse = Schema.Struct({
  messaging_product: Schema.optional(Schema.String),
  contacts: Schema.optional(Schema.Array(Schema.Struct({
    input: Schema.optional(Schema.String),
    wa_id: Schema.optional(Schema.String)
  }))),
  messages: Schema.Array(Schema.Struct({
    id: Schema.String,
    message_status: Schema.optional(Schema.String)
  }))
})
