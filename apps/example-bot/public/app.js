// The simulator page: a snapshot and live updates over server-sent events; actions through /api.
const state = { users: [], writers: [], messages: new Map(), providers: [], current: undefined }
const $ = (id) => document.getElementById(id)
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props)
  for (const child of children) node.append(child)
  return node
}

const ticks = (status) => {
  if (status === "failed") return el("span", { className: "ticks failed", title: "failed" }, "✗")
  const label = { sent: "sent", delivered: "delivered", read: "read", played: "played" }[status] ?? status
  const marks = status === "sent" ? "✓" : "✓✓"
  const span = el("span", {
    className: `ticks ${status === "read" || status === "played" ? "read" : ""}`,
    title: label
  }, marks)
  span.setAttribute("aria-label", label)
  return span
}

const describe = (content) => {
  switch (content.kind) {
    case "text":
      return [content.text]
    case "image":
    case "video":
    case "audio":
    case "document":
    case "sticker": {
      const parts = []
      if (content.url && content.kind === "image") {
        parts.push(el("img", { src: content.url, alt: content.caption || "photo" }))
      } else {parts.push(
          `📎 ${content.kind}${content.filename ? ` ${content.filename}` : ""}${
            content.bytes ? ` (${Math.round(content.bytes / 1024)} KB)` : ""
          }`
        )}
      if (content.caption) parts.push(el("div", {}, content.caption))
      return parts
    }
    case "location":
      return [`📍 ${content.name ?? "Location"}${content.address ? `, ${content.address}` : ""}`]
    case "reaction":
      return [`${content.emoji} (reaction)`]
    case "template":
      return [`📨 template ${content.name}: ${content.variables.join(" · ")}`]
    case "buttons":
      return [content.text]
    default:
      return [JSON.stringify(content)]
  }
}

const renderMessages = () => {
  const list = $("messages")
  list.replaceChildren()
  const mine = [...state.messages.values()].filter((m) => m.chat === state.current).sort((a, b) => a.at - b.at)
  for (const m of mine) {
    const time = new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    const meta = el("span", { className: "meta" }, m.direction === "out" ? `via ${m.provider} · ${time}` : time)
    if (m.direction === "out") meta.append(ticks(m.status))
    const item = el("li", { className: `msg ${m.direction}` }, ...describe(m.content), meta)
    // A choice shown as buttons (by a provider with interactive messages): a tap answers it.
    if (m.content.kind === "buttons") {
      const options = el("div", { className: "choices" })
      for (const option of m.content.options) {
        const button = el("button", { type: "button", className: "choice" }, option)
        button.addEventListener("click", () => write({ chat: m.chat, text: option, replyTo: m.id }))
        options.append(button)
      }
      item.append(options)
    }
    item.dataset.id = m.id
    item.dataset.status = m.status
    item.dataset.provider = m.provider
    list.append(item)
  }
  list.scrollTop = list.scrollHeight
}

const renderUsers = () => {
  const list = $("users")
  list.replaceChildren()
  for (const user of state.users) {
    const button = el("button", { type: "button" }, user.name, el("small", {}, user.chat))
    button.setAttribute("aria-pressed", String(user.chat === state.current))
    button.addEventListener("click", () => select(user.chat))
    list.append(el("li", {}, button))
  }
  const current = state.users.find((u) => u.chat === state.current)
  $("chat-title").textContent = current ? `Chat with the clinic, as ${current.name}` : "Chat"
}

const renderProviders = () => {
  const box = $("providers")
  box.replaceChildren()
  for (const p of state.providers) {
    const select = el("select", { id: `mode-${p.name}`, disabled: !p.emulated })
    for (const mode of ["ok", "failing", "rate-limited", "down"]) {
      select.append(el("option", { value: mode, selected: mode === p.mode }, mode))
    }
    select.addEventListener("change", () => setMode(p.name, select.value))
    const label = el("label", { htmlFor: `mode-${p.name}` }, "Behaviour ")
    box.append(
      el(
        "section",
        { className: "provider", "aria-label": p.name },
        el("h3", {}, `${p.name} `, el("small", {}, `(${p.role})`)),
        el(
          "dl",
          {},
          el("dt", {}, "Breaker"),
          el("dd", { className: `state-${p.breaker}`, id: `breaker-${p.name}` }, p.breaker),
          el("dt", {}, "Sent"),
          el("dd", {}, String(p.successes)),
          el("dt", {}, "Failed"),
          el("dd", {}, String(p.failures)),
          el("dt", {}, "Skipped"),
          el("dd", {}, String(p.rejected))
        ),
        p.emulated ? el("div", {}, label, select) : el("p", {}, "Real API")
      )
    )
  }
}

const select = (chat) => {
  state.current = chat
  renderUsers()
  renderMessages()
  $("text").focus()
}

const post = async (path, body) => {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  const json = await response.json()
  if (!response.ok) throw new Error(json.error ?? response.statusText)
  return json
}

const setMode = (name, mode) => post(`/api/providers/${name}/mode`, { mode }).catch((e) => alert(e.message))

const renderWriters = () => {
  const select = $("via")
  const current = select.value
  select.replaceChildren(
    ...state.writers.map((name) => el("option", { value: name, selected: name === current }, name))
  )
}

const write = async (message) => {
  try {
    await post("/api/messages", { via: $("via").value || undefined, ...message })
    $("send-error").textContent = ""
    return true
  } catch (e) {
    $("send-error").textContent = e.message
    return false
  }
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault()
  const text = $("text").value
  if (!text.trim() || !state.current) return
  if (await write({ chat: state.current, text })) $("text").value = ""
})

$("photo").addEventListener("click", async () => {
  if (!state.current) return
  if (await write({ chat: state.current, photo: true, text: $("text").value })) $("text").value = ""
})

$("add-user").addEventListener("submit", async (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  try {
    const user = await post("/api/users", { name: form.get("name"), phone: form.get("phone") })
    event.target.reset()
    $("add-user-error").textContent = ""
    select(user.chat)
  } catch (e) {
    $("add-user-error").textContent = e.message
  }
})

const events = new EventSource("/api/events")
events.onmessage = (message) => {
  const event = JSON.parse(message.data)
  switch (event.type) {
    case "snapshot":
      state.users = event.users
      state.writers = event.writers
      state.messages = new Map(event.messages.map((m) => [m.id, m]))
      state.providers = event.providers
      state.current ??= state.users[0]?.chat
      renderUsers()
      renderWriters()
      renderMessages()
      renderProviders()
      break
    case "message":
      state.messages.set(event.message.id, event.message)
      if (event.message.chat === state.current) renderMessages()
      break
    case "status": {
      const m = state.messages.get(event.id)
      if (m) {
        m.status = event.status
        if (m.chat === state.current) renderMessages()
      }
      break
    }
    case "providers":
      state.providers = event.providers
      renderProviders()
      break
    case "user":
      if (!state.users.some((u) => u.chat === event.user.chat)) state.users.push(event.user)
      renderUsers()
      break
  }
}
document.body.dataset.ready = "true"
