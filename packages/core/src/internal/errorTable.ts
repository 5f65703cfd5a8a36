import type * as ErrorTable from "../ErrorTable.js"
import type * as HttpTransport from "../HttpTransport.js"
import * as MessagingError from "../MessagingError.js"
import { classifyStatus, describe, retryAfterField } from "./httpTransport.js"

/** @internal */
export const toError = (
  outcome: ErrorTable.Outcome,
  answer: HttpTransport.Answer,
  reason: string,
  rule?: Pick<ErrorTable.Rule, "field" | "feature">
): MessagingError.MessagingError => {
  const { chat, provider } = answer
  // An error status is part of the error; a 2xx that carried an error is not an HTTP failure.
  const status = answer.status >= 300 ? { status: answer.status } : {}
  switch (outcome) {
    case "invalid":
      return new MessagingError.InvalidMessage({ provider, field: rule?.field ?? "body", reason, ...status })
    case "unsupported":
      return new MessagingError.Unsupported({
        provider,
        feature: `${rule?.feature ?? "this message"} (${provider} answered ${answer.status}: ${reason})`
      })
    case "misconfigured":
      return new MessagingError.Unauthorized({ provider, reason, ...status })
    case "rateLimited":
      return new MessagingError.RateLimited({ provider, reason, ...status, ...retryAfterField(answer) })
    case "windowClosed":
      return new MessagingError.WindowClosed({ provider, chat: chat ?? "unknown", reason })
    case "recipientUnavailable":
      return new MessagingError.RecipientUnavailable({ provider, chat, reason })
    case "unavailable":
      return new MessagingError.ProviderUnavailable({ provider, reason, ...status })
    case "deliveryUnknown":
      return new MessagingError.DeliveryUnknown({ provider, reason })
  }
}

interface Compiled {
  readonly rule: ErrorTable.Rule
  readonly status: (status: number) => boolean
  /** Whether the rule names a 2xx status (so it applies to successes too). */
  readonly success: boolean
  readonly codes: ReadonlySet<number | string> | undefined
  readonly subcodes: ReadonlySet<number> | undefined
}

const isSuccess = (status: number) => status >= 200 && status < 300

const statusMatcher = (statuses: ErrorTable.Statuses | undefined): (status: number) => boolean => {
  if (statuses === undefined) return (status) => !isSuccess(status)
  if (statuses === "any") return () => true
  if (statuses === "2xx") return isSuccess
  if (statuses === "4xx") return (status) => status >= 400 && status < 500
  if (statuses === "5xx") return (status) => status >= 500 && status < 600
  const set = new Set(typeof statuses === "number" ? [statuses] : statuses)
  return (status) => set.has(status)
}

const namesSuccess = (statuses: ErrorTable.Statuses | undefined): boolean =>
  statuses === "any" || statuses === "2xx" ||
  (typeof statuses === "number" ? isSuccess(statuses) : Array.isArray(statuses) && statuses.some(isSuccess))

const setOf = <A>(value: A | ReadonlyArray<A> | undefined): ReadonlySet<A> | undefined =>
  value === undefined ? undefined : new Set(Array.isArray(value) ? value as ReadonlyArray<A> : [value as A])

/** @internal */
export const classifier = (table: ErrorTable.Table): HttpTransport.Classifier => {
  const rules: ReadonlyArray<Compiled> = table.rules.map((rule) => ({
    rule,
    status: statusMatcher(rule.status),
    success: namesSuccess(rule.status),
    codes: setOf(rule.code),
    subcodes: setOf(rule.subcode)
  }))
  const successRules = rules.filter((r) => r.success)
  const { read, successErrors } = table
  // A 2xx body the table claims as an error meets the rules without statuses too.
  const first = (
    candidates: ReadonlyArray<Compiled>,
    status: number,
    reading: ErrorTable.Reading | undefined,
    reason: string,
    claimed = false
  ) =>
    candidates.find((r) =>
      (r.status(status) || (claimed && r.rule.status === undefined)) &&
      (r.codes === undefined || (reading?.code !== undefined && r.codes.has(reading.code))) &&
      (r.subcodes === undefined || (reading?.subcode !== undefined && r.subcodes.has(reading.subcode))) &&
      (r.rule.text === undefined || r.rule.text.test(reason))
    )
  return (answer) => {
    const { body, status } = answer
    if (isSuccess(status)) {
      const claimed = successErrors !== undefined && successErrors(body)
      if (!claimed && successRules.length === 0) return undefined
      const reading = read?.(body)
      const reason = reading?.reason ?? describe(body)
      const found = first(claimed ? rules : successRules, status, reading, reason, claimed)
      if (found !== undefined) return toError(found.rule.outcome, answer, reason, found.rule)
      return claimed
        ? new MessagingError.InvalidMessage({
          provider: answer.provider,
          field: "body",
          reason: `rejected in a ${status} answer: ${reason}`,
          status
        })
        : undefined
    }
    const reading = read?.(body)
    const reason = reading?.reason ?? describe(body)
    const found = first(rules, status, reading, reason)
    if (found !== undefined) return toError(found.rule.outcome, answer, reason, found.rule)
    return classifyStatus(reading?.reason === undefined ? answer : { ...answer, body: reading.reason })
  }
}
